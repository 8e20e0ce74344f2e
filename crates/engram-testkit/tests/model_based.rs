//! Model-based property tests (issue 6): random operation sequences, with reopens in between, applied to an engine on SQLite and to one on the in-memory reference backend, compared after every step.
//!
//! The state machine is hand-rolled (no `proptest-state-machine`): proptest
//! generates a `Vec<Action>` and shrinks it by dropping and simplifying
//! actions. Actions name spaces, collections, documents and idempotency keys
//! by index into small pools, so collisions are frequent; anything that
//! depends on the current state (expected versions "near the current one",
//! replays of earlier idempotent requests) is resolved at run time against
//! the reference engine, then the same concrete request goes to both.
//!
//! After every action the test compares:
//! - the action's outcome (the `Ok` value, or the `ErrorKind` of an error;
//!   messages may differ);
//! - the whole observable state: spaces, each space's collections (name,
//!   spec, generation, and that `Space::collection` agrees with the list),
//!   every live document (query pages following cursors), the change log
//!   (positions, ops, targets, versions, content hashes, HLC timestamps and
//!   the hash chain) and `verify_changes`;
//! - and, on the reference side, every successful query and count against a
//!   brute-force evaluation of the filter over all live documents (result
//!   set, order for sorted queries, page and cursor shape).
//!
//! Known, deliberate differences, normalised rather than reported:
//! - Cursor strings embed the collection's internal id, and the memory
//!   backend numbers spaces and collections from one counter while SQLite
//!   numbers each table apart: only whether a page has a cursor is compared.
//! - Runs of `expire` entries written by one `purge_expired` are compared as
//!   sets: `Reader::expired` does not specify an order (memory lists by
//!   collection id and document id, SQLite by expiry time). Their positions,
//!   count and the set of timestamps they got must still match; hashes are
//!   compared only on the common prefix of identical entries.
//! - HLC after reopening without the clock moving: the reopened SQLite
//!   engine's clock floor is the newest timestamp in a live space's change
//!   log, while the memory engine (never reopened) goes on from the last
//!   timestamp it issued, including to writes that rolled back and to spaces
//!   deleted since; so the logical counters can differ until the wall clock
//!   moves. That is the documented invariant (per-space monotonic), not a bug.
//!   Entries written meanwhile are compared on the physical (millisecond)
//!   part of their HLC only; each side's per-space HLCs must still strictly
//!   increase. A `Reopen { advance_clock: true }` moves the clock 1 ms first
//!   and keeps the two clocks exactly equal.
//! - `Space::insert` is not generated: its ids are random UUIDv7s, which
//!   would differ between the engines and in every document listing.
//!
//! Cases: 1,000 by default; `ENGRAM_PROPTEST_CASES=10000` for longer runs.
//! Failing seeds persist in `tests/proptest-regressions/model_based.txt`
//! (commit them: they are replayed first on every run). A summary line is
//! printed at the end (`-- --nocapture`); `ENGRAM_MODEL_STATS=1` adds the
//! outcome tally per action, `ENGRAM_MODEL_TRACE=1` prints every step (send
//! it to a file, not to `| head`: a print to a closed pipe panics, and the
//! panic is recorded as a failing seed). The committed seed replays the
//! rolled-back-collection catalog bug fixed in 60f790d (see regressions.rs).

use engram::{
    ChainReport, ChangeEntry, ChangeOp, CollectionInfo, CollectionSpec, CommitResult, Document, Engine, ErrorKind,
    Expect, IndexSpec, Op, Query, SortField, SortOrder, Space, SpaceInfo, WriteOptions, WriteResult, limits,
};
use engram_core::filter::Filter;
use engram_core::keys::encode_value;
use engram_core::path::JsonPath;
use engram_testkit::{Fixture, ManualClock, memory_fixture, postgres_available, postgres_fixture, sqlite_fixture};

/// A fixture factory of the backend under test.
type Make = fn(Arc<ManualClock>) -> Fixture;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;
use proptest::test_runner::{FileFailurePersistence, TestRunner};
use serde_json::{Map, Value, json};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

// ----- pools ---------------------------------------------------------------

const SPACES: [&str; 3] = ["s0", "s1", "s2"];
const COLLS: [&str; 3] = ["c0", "c1", "c2"];
/// Mixed case, a prefix chain, a non-ASCII id and one with a space, so id
/// order is bytewise order in both backends.
const IDS: [&str; 12] = ["a", "b", "c", "d", "e", "f", "A", "B", "a1", "a10", "é", "x y"];
const IDEM_KEYS: [&str; 3] = ["k0", "k1", "k2"];
const STRINGS: [&str; 8] = ["", "a", "ab", "abc", "b", "B", "é", "a\u{0}"];
/// `n` holds an object or a scalar; `tags` an array or a scalar; `zz` is never set.
const FILTER_FIELDS: [&str; 8] = ["a", "b", "c", "n", "n.x", "tags", "tags.0", "zz"];
const SORT_FIELDS: [&str; 5] = ["a", "b", "c", "n.x", "tags.0"];
const INDEX_PATHS: [&[&str]; 7] = [&["a"], &["b"], &["a", "b"], &["n.x"], &["tags.0"], &["c", "a"], &["tags"]];
const INDEX_NAMES: [&str; 3] = ["ia", "ib", "ic"];
/// Longest generated action sequence (after the fixed prelude that creates `s0`).
const ACTIONS_MAX: usize = 40;
/// Cases when `ENGRAM_PROPTEST_CASES` is not set.
const CASES_DEFAULT: u32 = 1_000;
/// Cases on PostgreSQL when `ENGRAM_PG_PROPTEST_CASES` is not set.
const PG_CASES_DEFAULT: u32 = 48;
/// Stack of the thread that runs the cases.
const STACK_BYTES: usize = 64 << 20;
/// Pages followed per query at most (a bug that loops on cursors fails instead of hanging).
const PAGES_MAX: usize = 500;
/// 25 hours: past the 24-hour idempotency window.
const DAY_AND_AN_HOUR_MS: u64 = 25 * 3600 * 1000;

fn schema(i: usize) -> Value {
    match i {
        0 => json!({"type": "object", "properties": {"a": {"type": "integer"}}}),
        1 => json!({"type": "object", "required": ["b"]}),
        2 => json!({"properties": {"b": {"type": "string", "maxLength": 2}}}),
        _ => json!({"type": 12}), // not a valid schema: rejected when declared
    }
}

// ----- generated actions ---------------------------------------------------

/// Which space an action addresses, and whether it reuses a handle obtained
/// earlier (which may outlive a delete and re-create of the space).
#[derive(Debug, Clone, Copy)]
struct Handle {
    space: usize,
    stale: bool,
}

/// A precondition; `Near(d)` is `Version(current + d)`, resolved at run time.
#[derive(Debug, Clone, Copy)]
enum ExpectGen {
    Any,
    Absent,
    Exists,
    Near(i64),
}

#[derive(Debug, Clone)]
enum OpKind {
    Put { body: Value, expect: ExpectGen, ttl: Option<u64> },
    Patch { patch: Value, expect: ExpectGen, ttl: Option<u64> },
    Delete { expect: ExpectGen },
}

#[derive(Debug, Clone)]
struct OpGen {
    coll: usize,
    id: usize,
    /// Resolve `id` among the collection's live documents (patches and
    /// deletes mostly do, so they find something to act on).
    existing: bool,
    kind: OpKind,
}

#[derive(Debug, Clone)]
struct SpecGen {
    schema: Option<usize>,
    default_ttl: Option<u64>,
    /// (name, paths) indexes into the pools.
    indexes: Vec<(usize, usize)>,
}

#[derive(Debug, Clone)]
enum Action {
    CreateSpace(usize),
    DeleteSpace(usize),
    /// `Space::put` / `patch` / `delete`.
    Write {
        h: Handle,
        op: OpGen,
        key: Option<usize>,
    },
    /// `Space::commit` of 1 to 5 operations.
    Transaction {
        h: Handle,
        ops: Vec<OpGen>,
        key: Option<usize>,
    },
    BulkPut {
        h: Handle,
        coll: usize,
        docs: Vec<(usize, Value)>,
        key: Option<usize>,
    },
    BulkDelete {
        h: Handle,
        coll: usize,
        ids: Vec<usize>,
        key: Option<usize>,
    },
    /// Sends an earlier idempotent request again, byte for byte.
    Replay {
        back: usize,
    },
    AdvanceClock(u64),
    Purge,
    CreateCollection {
        h: Handle,
        coll: usize,
        spec: SpecGen,
    },
    UpdateCollection {
        h: Handle,
        coll: usize,
        spec: SpecGen,
    },
    DropCollection {
        h: Handle,
        coll: usize,
    },
    Query {
        h: Handle,
        coll: usize,
        filter: Value,
        sort: Vec<(usize, bool)>,
        limit: usize,
        offset: Option<usize>,
    },
    Count {
        h: Handle,
        coll: usize,
        filter: Value,
    },
    Get {
        h: Handle,
        coll: usize,
        id: usize,
    },
    Changes {
        h: Handle,
        after: u64,
        limit: usize,
    },
    Verify {
        h: Handle,
    },
    /// Drops and reopens the SQLite engine; the memory engine stays.
    Reopen {
        advance_clock: bool,
    },
}

fn opt<S: Strategy>(s: S) -> impl Strategy<Value = Option<S::Value>> {
    proptest::option::weighted(0.7, s)
}

fn number() -> impl Strategy<Value = Value> + Clone {
    prop_oneof![
        4 => (-3i64..=3).prop_map(Value::from),
        2 => select(vec![-1.5f64, -0.0, 0.5, 1.0, 2.0, 2.5]).prop_map(Value::from),
        1 => select(vec![json!(9_007_199_254_740_993u64), json!(u64::MAX), json!(i64::MIN)]),
    ]
}

fn string() -> impl Strategy<Value = Value> + Clone {
    select(STRINGS.to_vec()).prop_map(Value::from)
}

fn scalar() -> impl Strategy<Value = Value> + Clone {
    prop_oneof![4 => number(), 4 => string(), 1 => any::<bool>().prop_map(Value::from), 1 => Just(Value::Null)]
}

fn array() -> impl Strategy<Value = Value> + Clone {
    vec(scalar(), 0..4).prop_map(Value::from)
}

/// A scalar or a small array.
fn value() -> impl Strategy<Value = Value> + Clone {
    prop_oneof![6 => scalar(), 1 => array()]
}

fn object(fields: [(&str, Option<Value>); 5]) -> Value {
    Value::Object(fields.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))).collect())
}

fn body() -> impl Strategy<Value = Value> {
    let nested = prop_oneof![3 => scalar().prop_map(|x| json!({"x": x})), 1 => scalar()];
    let tags = prop_oneof![4 => array(), 1 => scalar()];
    (opt(value()), opt(string()), opt(scalar()), opt(nested), opt(tags))
        .prop_map(|(a, b, c, n, tags)| object([("a", a), ("b", b), ("c", c), ("n", n), ("tags", tags)]))
}

/// A merge patch: fields set, replaced or removed (null), a nested merge on
/// `n`, and rarely something that is not an object (the result is then not
/// a document).
fn patch() -> impl Strategy<Value = Value> {
    let nested = prop_oneof![scalar().prop_map(|x| json!({"x": x})), Just(json!({"x": null})), Just(Value::Null)];
    let tags = prop_oneof![array(), Just(Value::Null)];
    let fields = (opt(value()), opt(string()), opt(scalar()), opt(nested), opt(tags))
        .prop_map(|(a, b, c, n, tags)| object([("a", a), ("b", b), ("c", c), ("n", n), ("tags", tags)]));
    prop_oneof![15 => fields, 1 => select(vec![json!([1]), json!("x"), Value::Null])]
}

fn expect_gen() -> impl Strategy<Value = ExpectGen> {
    prop_oneof![
        8 => Just(ExpectGen::Any),
        1 => Just(ExpectGen::Absent),
        1 => Just(ExpectGen::Exists),
        3 => prop_oneof![3 => Just(0i64), 1 => Just(1), 1 => Just(-1)].prop_map(ExpectGen::Near),
    ]
}

fn ttl() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![
        12 => Just(None),
        5 => (1u64..=5).prop_map(Some),
        1 => select(vec![0, limits::TTL_SECONDS_MAX + 1]).prop_map(Some),
    ]
}

/// A collection: 0 to 2 name one of [`COLLS`]; 3 to 5 mean "one of the
/// space's existing collections" (resolved at run time; `COLLS[k - 3]` when
/// there are none), so reads and updates mostly find something.
fn coll_idx() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(0usize), 1 => Just(1), 1 => Just(2), 3 => 3usize..6]
}

/// Biased to the first ids so the same documents are written again and again.
fn id_idx() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 0usize..4, 1 => 0usize..IDS.len()]
}

fn key_idx() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![3 => Just(None), 1 => (0usize..IDEM_KEYS.len()).prop_map(Some)]
}

fn handle() -> impl Strategy<Value = Handle> {
    (prop_oneof![8 => Just(0usize), 1 => Just(1), 1 => Just(2)], proptest::bool::weighted(0.1))
        .prop_map(|(space, stale)| Handle { space, stale })
}

/// Puts, patches and deletes in the ratio `puts : 3 : 2`.
fn op_gen(puts: u32) -> impl Strategy<Value = OpGen> {
    let kind = prop_oneof![
        puts => (body(), expect_gen(), ttl()).prop_map(|(body, expect, ttl)| OpKind::Put { body, expect, ttl }),
        3 => (patch(), expect_gen(), ttl()).prop_map(|(patch, expect, ttl)| OpKind::Patch { patch, expect, ttl }),
        2 => expect_gen().prop_map(|expect| OpKind::Delete { expect }),
    ];
    (coll_idx(), id_idx(), kind, any::<bool>()).prop_map(|(coll, id, kind, existing)| {
        let existing = existing && !matches!(kind, OpKind::Put { .. });
        OpGen { coll, id, kind, existing }
    })
}

fn spec_gen() -> impl Strategy<Value = SpecGen> {
    let schema = prop_oneof![6 => Just(None), 3 => (0usize..3).prop_map(Some), 1 => Just(Some(3))];
    let default_ttl = prop_oneof![8 => Just(None), 2 => (1u64..=4).prop_map(Some), 1 => Just(Some(0))];
    let index = (0usize..INDEX_NAMES.len(), 0usize..INDEX_PATHS.len());
    let indexes = prop_oneof![1 => Just(Vec::new()), 3 => vec(index, 1..=2)];
    (schema, default_ttl, indexes).prop_map(|(schema, default_ttl, indexes)| SpecGen { schema, default_ttl, indexes })
}

/// Range operands: numbers and strings, rarely a boolean (an invalid filter).
fn range_operand() -> impl Strategy<Value = Value> + Clone {
    prop_oneof![4 => number(), 4 => string(), 1 => any::<bool>().prop_map(Value::from)]
}

/// The condition on one field: a value (implicit `$eq`) or an operator object.
fn condition() -> impl Strategy<Value = Value> {
    let range = (select(vec!["$gt", "$gte", "$lt", "$lte"]), range_operand()).prop_map(|(op, v)| json!({ op: v }));
    let in_list = (select(vec!["$in", "$nin"]), vec(scalar(), 0..4)).prop_map(|(op, vs)| json!({ op: vs }));
    prop_oneof![
        2 => value(),
        1 => scalar().prop_map(|x| json!({"x": x})),
        1 => value().prop_map(|v| json!({"$eq": v})),
        1 => value().prop_map(|v| json!({"$ne": v})),
        4 => range,
        1 => (range_operand(), range_operand()).prop_map(|(lo, hi)| json!({"$gte": lo, "$lt": hi})),
        1 => in_list,
        2 => any::<bool>().prop_map(|b| json!({"$exists": b})),
        1 => string().prop_map(|s| json!({"$prefix": s})),
        1 => value().prop_map(|v| json!({"$contains": v})),
    ]
}

fn filter() -> impl Strategy<Value = Value> {
    let field = select(FILTER_FIELDS.to_vec()).prop_map(String::from);
    let leaf =
        vec((field, condition()), 1..=2).prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>()));
    let tree = leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 1..=3).prop_map(|fs| json!({"$and": fs})),
            vec(inner.clone(), 1..=3).prop_map(|fs| json!({"$or": fs})),
            inner.prop_map(|f| json!({"$not": f})),
        ]
    });
    prop_oneof![3 => Just(Value::Null), 1 => Just(json!({})), 8 => tree]
}

/// A plain put into `s0`: sequences start with a few so that reads,
/// patches and deletes find documents early.
fn seed_put() -> impl Strategy<Value = Action> {
    (prop_oneof![3 => Just(0usize), 1 => Just(1)], 0usize..8, body()).prop_map(|(coll, id, body)| Action::Write {
        h: Handle { space: 0, stale: false },
        op: OpGen { coll, id, existing: false, kind: OpKind::Put { body, expect: ExpectGen::Any, ttl: None } },
        key: None,
    })
}

/// Maybe a declared `c0`, up to 8 seed puts, then up to [`ACTIONS_MAX`] actions in all.
fn actions() -> impl Strategy<Value = Vec<Action>> {
    let declare = proptest::option::weighted(0.5, spec_gen()).prop_map(|spec| {
        spec.map(|spec| Action::CreateCollection { h: Handle { space: 0, stale: false }, coll: 0, spec })
    });
    (declare, vec(seed_put(), 0..=8), vec(action(), 1..=ACTIONS_MAX - 9))
        .prop_map(|(declare, puts, rest)| declare.into_iter().chain(puts).chain(rest).collect())
}

fn action() -> impl Strategy<Value = Action> {
    let weighted: Vec<(u32, BoxedStrategy<Action>)> = vec![
        (3, (0usize..SPACES.len()).prop_map(Action::CreateSpace).boxed()),
        (1, prop_oneof![1 => Just(0usize), 2 => Just(1), 2 => Just(2)].prop_map(Action::DeleteSpace).boxed()),
        (14, (handle(), op_gen(6), key_idx()).prop_map(|(h, op, key)| Action::Write { h, op, key }).boxed()),
        (
            4,
            (handle(), vec(op_gen(10), 1..=5), key_idx())
                .prop_map(|(h, ops, key)| Action::Transaction { h, ops, key })
                .boxed(),
        ),
        (
            3,
            (handle(), coll_idx(), vec((id_idx(), body()), 1..=5), key_idx())
                .prop_map(|(h, coll, docs, key)| Action::BulkPut { h, coll, docs, key })
                .boxed(),
        ),
        (
            2,
            (handle(), coll_idx(), vec(0usize..4, 1..=3), key_idx())
                .prop_map(|(h, coll, ids, key)| Action::BulkDelete { h, coll, ids, key })
                .boxed(),
        ),
        (2, (0usize..4).prop_map(|back| Action::Replay { back }).boxed()),
        (
            3,
            prop_oneof![6 => 1u64..1_500, 3 => 1_000u64..6_000, 1 => Just(DAY_AND_AN_HOUR_MS)]
                .prop_map(Action::AdvanceClock)
                .boxed(),
        ),
        (2, Just(Action::Purge).boxed()),
        (
            2,
            (handle(), coll_idx(), spec_gen())
                .prop_map(|(h, coll, spec)| Action::CreateCollection { h, coll, spec })
                .boxed(),
        ),
        (
            3,
            (handle(), coll_idx(), spec_gen())
                .prop_map(|(h, coll, spec)| Action::UpdateCollection { h, coll, spec })
                .boxed(),
        ),
        (1, (handle(), coll_idx()).prop_map(|(h, coll)| Action::DropCollection { h, coll }).boxed()),
        (
            6,
            (
                handle(),
                coll_idx(),
                filter(),
                vec((0usize..SORT_FIELDS.len(), any::<bool>()), 0..=2),
                prop_oneof![20 => 1usize..=7, 1 => Just(0)],
                proptest::option::weighted(0.15, 0usize..5),
            )
                .prop_map(|(h, coll, filter, sort, limit, offset)| Action::Query {
                    h,
                    coll,
                    filter,
                    sort,
                    limit,
                    offset,
                })
                .boxed(),
        ),
        (2, (handle(), coll_idx(), filter()).prop_map(|(h, coll, filter)| Action::Count { h, coll, filter }).boxed()),
        (3, (handle(), coll_idx(), id_idx()).prop_map(|(h, coll, id)| Action::Get { h, coll, id }).boxed()),
        (
            2,
            (
                handle(),
                0u64..20,
                prop_oneof![
                    8 => 1usize..=6,
                    1 => Just(0),
                    1 => Just(limits::CHANGES_LIMIT_MAX),
                    1 => Just(limits::CHANGES_LIMIT_MAX + 1)
                ],
            )
                .prop_map(|(h, after, limit)| Action::Changes { h, after, limit })
                .boxed(),
        ),
        (1, handle().prop_map(|h| Action::Verify { h }).boxed()),
        (2, any::<bool>().prop_map(|advance_clock| Action::Reopen { advance_clock }).boxed()),
    ];
    Union::new_weighted(weighted)
}

// ----- resolved requests and outcomes --------------------------------------

#[derive(Debug, Clone)]
enum WriteCall {
    Single(Op),
    Commit(Vec<Op>),
    BulkPut(String, Vec<(String, Value)>),
    BulkDelete(String, Vec<String>),
}

/// A write with everything resolved: both engines get exactly this.
#[derive(Debug, Clone)]
struct Request {
    h: Handle,
    call: WriteCall,
    key: Option<String>,
}

/// What an action returned, comparable across the engines.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Err(ErrorKind),
    Done,
    Skipped,
    Space(SpaceInfo),
    Collection(CollectionInfo),
    Write(WriteResult),
    Commit(CommitResult),
    Doc(Document),
    /// Each page's documents and whether it had a cursor.
    Pages(Vec<(Vec<Document>, bool)>),
    Count(u64, bool),
    Purged(usize),
    /// Entries projected on what must match (see [`EntryView`]).
    Changes(Vec<EntryView>),
    Chain {
        entries: u64,
        head_position: u64,
    },
}

fn outcome<T>(r: engram::Result<T>, ok: impl FnOnce(T) -> Outcome) -> Outcome {
    match r {
        Ok(v) => ok(v),
        Err(e) => Outcome::Err(e.kind()),
    }
}

/// A change-log entry as compared in one `changes` call: `expire` entries
/// only by position, since their order within one purge may differ (the
/// full-state comparison checks them as a set).
#[derive(Debug, Clone, PartialEq)]
struct EntryView {
    position: u64,
    op: ChangeOp,
    target: Option<(String, String, u64, [u8; 32])>,
}

fn view(e: &ChangeEntry) -> EntryView {
    let target =
        (e.op != ChangeOp::Expire).then(|| (e.collection.clone(), e.doc_id.clone(), e.version, e.content_hash));
    EntryView { position: e.position, op: e.op, target }
}

fn space_handle(engine: &Engine, cache: &mut HashMap<usize, Space>, h: Handle) -> engram::Result<Space> {
    if h.stale
        && let Some(s) = cache.get(&h.space)
    {
        return Ok(s.clone());
    }
    let s = engine.space(SPACES[h.space])?;
    cache.insert(h.space, s.clone());
    Ok(s)
}

fn build_spec(g: &SpecGen) -> CollectionSpec {
    CollectionSpec {
        schema: g.schema.map(schema),
        default_ttl_seconds: g.default_ttl,
        indexes: g
            .indexes
            .iter()
            .map(|&(name, paths)| IndexSpec {
                id: 0,
                name: INDEX_NAMES[name].to_owned(),
                paths: INDEX_PATHS[paths].iter().map(|p| (*p).to_owned()).collect(),
            })
            .collect(),
        search: None,
    }
}

fn query_of(filter: &Value, sort: &[(usize, bool)], limit: usize, offset: Option<usize>) -> Query {
    let sort = sort
        .iter()
        .map(|&(f, desc)| SortField {
            field: SORT_FIELDS[f].to_owned(),
            order: if desc { SortOrder::Desc } else { SortOrder::Asc },
        })
        .collect();
    Query { filter: filter.clone(), sort, limit: Some(limit), cursor: None, offset }
}

/// Runs a query, following cursors to the end (offset queries: one page).
fn run_query(space: &Space, coll: &str, mut q: Query) -> engram::Result<Vec<(Vec<Document>, bool)>> {
    let mut pages = Vec::new();
    loop {
        let page = space.query(coll, &q)?;
        let more = page.next_cursor.is_some();
        pages.push((page.documents, more));
        match page.next_cursor {
            Some(c) if q.offset.is_none() && pages.len() < PAGES_MAX => q.cursor = Some(c),
            _ => return Ok(pages),
        }
    }
}

fn exec_write(space: &Space, req: &Request) -> Outcome {
    let key = req.key.clone();
    match req.call.clone() {
        WriteCall::Single(Op::Put { collection, id, body, expect, ttl_seconds }) => {
            let opts = WriteOptions { expect, ttl_seconds, idempotency_key: key };
            outcome(space.put(&collection, &id, body, opts), Outcome::Write)
        }
        WriteCall::Single(Op::Patch { collection, id, patch, expect, ttl_seconds }) => {
            let opts = WriteOptions { expect, ttl_seconds, idempotency_key: key };
            outcome(space.patch(&collection, &id, patch, opts), Outcome::Write)
        }
        WriteCall::Single(Op::Delete { collection, id, expect }) => {
            let opts = WriteOptions { expect, ttl_seconds: None, idempotency_key: key };
            outcome(space.delete(&collection, &id, opts), Outcome::Write)
        }
        // The model generates document operations only; graph, fact and
        // stream operations have their own conformance cases.
        WriteCall::Single(op) => outcome(space.commit(vec![op], key.as_deref()), Outcome::Commit),
        WriteCall::Commit(ops) => outcome(space.commit(ops, key.as_deref()), Outcome::Commit),
        WriteCall::BulkPut(coll, docs) => outcome(space.bulk_put(&coll, docs, key.as_deref()), Outcome::Commit),
        WriteCall::BulkDelete(coll, ids) => outcome(space.bulk_delete(&coll, ids, key.as_deref()), Outcome::Commit),
    }
}

/// Runs one resolved action on one engine. `Reopen` and `AdvanceClock` are
/// handled by the harness, not here.
fn exec(engine: &Engine, cache: &mut HashMap<usize, Space>, action: &Action, request: Option<&Request>) -> Outcome {
    macro_rules! space {
        ($h:expr) => {
            match space_handle(engine, cache, $h) {
                Ok(s) => s,
                Err(e) => return Outcome::Err(e.kind()),
            }
        };
    }
    match action {
        Action::CreateSpace(s) => outcome(engine.create_space(SPACES[*s]), Outcome::Space),
        Action::DeleteSpace(s) => outcome(engine.delete_space(SPACES[*s]), |()| Outcome::Done),
        Action::Write { .. }
        | Action::Transaction { .. }
        | Action::BulkPut { .. }
        | Action::BulkDelete { .. }
        | Action::Replay { .. } => match request {
            Some(req) => {
                let space = space!(req.h);
                exec_write(&space, req)
            }
            None => Outcome::Skipped,
        },
        Action::AdvanceClock(_) | Action::Reopen { .. } => Outcome::Done,
        Action::Purge => outcome(engine.purge_expired(), Outcome::Purged),
        Action::CreateCollection { h, coll, spec } => {
            outcome(space!(*h).create_collection(COLLS[*coll], build_spec(spec)), Outcome::Collection)
        }
        Action::UpdateCollection { h, coll, spec } => {
            outcome(space!(*h).update_collection(COLLS[*coll], build_spec(spec)), Outcome::Collection)
        }
        Action::DropCollection { h, coll } => outcome(space!(*h).drop_collection(COLLS[*coll]), |()| Outcome::Done),
        Action::Query { h, coll, filter, sort, limit, offset } => {
            let q = query_of(filter, sort, *limit, *offset);
            outcome(run_query(&space!(*h), COLLS[*coll], q), Outcome::Pages)
        }
        Action::Count { h, coll, filter } => {
            let space = space!(*h);
            let counted = space.count(COLLS[*coll], filter).and_then(|n| Ok((n, space.exists(COLLS[*coll], filter)?)));
            outcome(counted, |(n, e)| Outcome::Count(n, e))
        }
        Action::Get { h, coll, id } => outcome(space!(*h).get(COLLS[*coll], IDS[*id]), Outcome::Doc),
        Action::Changes { h, after, limit } => {
            outcome(space!(*h).changes(*after, *limit), |es| Outcome::Changes(es.iter().map(view).collect()))
        }
        Action::Verify { h } => outcome(space!(*h).verify_changes(), |r: ChainReport| Outcome::Chain {
            entries: r.entries,
            head_position: r.head_position,
        }),
    }
}

// ----- snapshots -----------------------------------------------------------

#[derive(Debug)]
struct SpaceSnap {
    info: SpaceInfo,
    collections: Vec<(CollectionInfo, Vec<Document>)>,
    log: Vec<ChangeEntry>,
    chain: ChainReport,
}

fn all_docs(space: &Space, coll: &str) -> engram::Result<Vec<Document>> {
    let q = Query { limit: Some(limits::PAGE_LIMIT_MAX), ..Query::default() };
    Ok(run_query(space, coll, q)?.into_iter().flat_map(|(docs, _)| docs).collect())
}

fn all_changes(space: &Space) -> engram::Result<Vec<ChangeEntry>> {
    let mut out: Vec<ChangeEntry> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.position);
        let run = space.changes(after, 1_000)?;
        if run.is_empty() {
            return Ok(out);
        }
        out.extend(run);
    }
}

/// Everything observable about an engine, read through the public API.
fn snapshot(engine: &Engine) -> Result<Vec<SpaceSnap>, String> {
    let fail = |what: &str, e: engram::Error| format!("{what}: {e}");
    let mut out = Vec::new();
    for info in engine.spaces().map_err(|e| fail("listing spaces", e))? {
        let space = engine.space(&info.name).map_err(|e| fail("space handle", e))?;
        let mut collections = Vec::new();
        for c in space.collections().map_err(|e| fail("listing collections", e))? {
            let one = space.collection(&c.name).map_err(|e| fail("reading a collection", e))?;
            if one != c {
                return Err(format!("Space::collection({:?}) = {one:?} but the list has {c:?}", c.name));
            }
            let docs = all_docs(&space, &c.name).map_err(|e| fail("listing documents", e))?;
            collections.push((c, docs));
        }
        let log = all_changes(&space).map_err(|e| fail("reading the change log", e))?;
        let chain = space.verify_changes().map_err(|e| fail("verifying the change log", e))?;
        if chain.entries != log.len() as u64 || chain.head_position != log.last().map_or(0, |e| e.position) {
            return Err(format!(
                "space {}: verify_changes {chain:?} disagrees with the {} entries read",
                info.name,
                log.len()
            ));
        }
        for w in log.windows(2) {
            if w[1].hlc <= w[0].hlc {
                return Err(format!(
                    "space {}: HLC goes backwards at position {}: {} after {}",
                    info.name, w[1].position, w[1].hlc, w[0].hlc
                ));
            }
        }
        out.push(SpaceSnap { info, collections, log, chain });
    }
    Ok(out)
}

// ----- statistics (printed at the end, for the README) ---------------------

static OUTCOMES: std::sync::Mutex<BTreeMap<String, u64>> = std::sync::Mutex::new(BTreeMap::new());
static STEPS: AtomicU64 = AtomicU64::new(0);
static REOPENS: AtomicU64 = AtomicU64::new(0);
static ERROR_OUTCOMES: AtomicU64 = AtomicU64::new(0);
static OK_WRITES: AtomicU64 = AtomicU64::new(0);
static QUERIES_CHECKED: AtomicU64 = AtomicU64::new(0);
static QUERIES_ON_INDEXES: AtomicU64 = AtomicU64::new(0);
static QUERY_RESULTS: AtomicU64 = AtomicU64::new(0);
static EXPIRE_RUNS_REORDERED: AtomicU64 = AtomicU64::new(0);
static HLC_EXEMPT_ENTRIES: AtomicU64 = AtomicU64::new(0);
static MAX_LOG: AtomicU64 = AtomicU64::new(0);

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, AtomicOrdering::Relaxed);
}

/// Tallies outcomes per kind of action ("Write/put:Conflict"), for the
/// `ENGRAM_MODEL_STATS` report.
fn count_outcome(action: &Action, out: &Outcome) {
    let text = format!("{action:?}");
    let mut name = text.split([' ', '(']).next().unwrap_or_default().to_owned();
    if let Action::Write { op, .. } = action {
        name += match op.kind {
            OpKind::Put { .. } => "/put",
            OpKind::Patch { .. } => "/patch",
            OpKind::Delete { .. } => "/delete",
        };
    }
    let kind = match out {
        Outcome::Err(k) => format!("{k:?}"),
        _ => "ok".to_owned(),
    };
    let mut tally = OUTCOMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    *tally.entry(format!("{name}:{kind}")).or_default() += 1;
}

// ----- comparing change logs -----------------------------------------------

/// The fields of an entry other than its HLC and hashes.
fn content(e: &ChangeEntry) -> (u8, &str, &str, u64, [u8; 32]) {
    (e.op.code(), &e.collection, &e.doc_id, e.version, e.content_hash)
}

fn physical(hlc: u64) -> u64 {
    hlc >> 16
}

/// Compares one space's logs modulo the documented normalisations; returns
/// whether they are identical (hashes included).
fn compare_logs(name: &str, m: &[ChangeEntry], s: &[ChangeEntry], exempt: &BTreeSet<u64>) -> Result<bool, String> {
    let here = |what: String| format!("space {name}: change log: {what}");
    if m.len() != s.len() {
        return Err(here(format!("memory has {} entries, sqlite {}", m.len(), s.len())));
    }
    // The first entry whose content or HLC differs: below it the hash chains must agree.
    let mut first_diff = m.len();
    let mut i = 0;
    while i < m.len() {
        let (a, b) = (&m[i], &s[i]);
        if a.position != b.position || a.op != b.op {
            return Err(here(format!("entry {i}: memory {a:?}, sqlite {b:?}")));
        }
        if a.op == ChangeOp::Expire {
            let end = (i..m.len()).find(|&j| m[j].op != ChangeOp::Expire).unwrap_or(m.len());
            if s[i..end].iter().any(|e| e.op != ChangeOp::Expire) {
                return Err(here(format!("expire run at positions {}..: ops differ", a.position)));
            }
            let mut ma: Vec<_> = m[i..end].iter().map(content).collect();
            let mut sa: Vec<_> = s[i..end].iter().map(content).collect();
            if ma != sa {
                bump(&EXPIRE_RUNS_REORDERED, 1);
                first_diff = first_diff.min(i);
            }
            ma.sort();
            sa.sort();
            if ma != sa {
                return Err(here(format!("expire run at positions {}..: memory {ma:?}, sqlite {sa:?}", a.position)));
            }
            let run_exempt = m[i..end].iter().any(|e| exempt.contains(&e.position));
            let clock = |es: &[ChangeEntry]| -> Vec<u64> {
                es.iter().map(|e| if run_exempt { physical(e.hlc) } else { e.hlc }).collect()
            };
            let (mut mh, mut sh) = (clock(&m[i..end]), clock(&s[i..end]));
            if m[i..end].iter().zip(&s[i..end]).any(|(x, y)| x.hlc != y.hlc) {
                first_diff = first_diff.min(i);
            }
            mh.sort_unstable();
            sh.sort_unstable();
            if mh != sh {
                return Err(here(format!(
                    "expire run at positions {}..: HLCs memory {mh:?}, sqlite {sh:?}",
                    a.position
                )));
            }
            i = end;
            continue;
        }
        if content(a) != content(b) {
            return Err(here(format!("entry at position {}: memory {a:?}, sqlite {b:?}", a.position)));
        }
        if a.hlc != b.hlc {
            if !exempt.contains(&a.position) || physical(a.hlc) != physical(b.hlc) {
                return Err(here(format!("entry at position {}: HLC memory {}, sqlite {}", a.position, a.hlc, b.hlc)));
            }
            first_diff = first_diff.min(i);
        }
        i += 1;
    }
    for (a, b) in m[..first_diff].iter().zip(&s[..first_diff]) {
        if a.hash != b.hash || a.prev_hash != b.prev_hash {
            return Err(here(format!(
                "identical entries at position {} have different hashes: memory {a:?}, sqlite {b:?}",
                a.position
            )));
        }
    }
    Ok(first_diff == m.len())
}

// ----- brute-force query oracle --------------------------------------------

/// The order of sorted results: sort keys (the key encoding), then id
/// (descending when every sort field is).
fn sort_cmp(paths: &[(JsonPath, bool)], a: &Document, b: &Document) -> Ordering {
    for (p, desc) in paths {
        let o = encode_value(p.lookup(&a.body)).cmp(&encode_value(p.lookup(&b.body)));
        if o != Ordering::Equal {
            return if *desc { o.reverse() } else { o };
        }
    }
    let o = a.id.as_bytes().cmp(b.id.as_bytes());
    if !paths.is_empty() && paths.iter().all(|p| p.1) { o.reverse() } else { o }
}

/// Checks a successful query against the filter evaluated over every live document.
fn check_query(
    all: &[Document],
    filter: &Value,
    sort: &[(usize, bool)],
    limit: usize,
    offset: Option<usize>,
    pages: &[(Vec<Document>, bool)],
) -> Result<(), String> {
    let parsed = Filter::parse(filter).map_err(|e| format!("the engine accepted a filter that does not parse: {e}"))?;
    let paths: Vec<(JsonPath, bool)> = sort
        .iter()
        .map(|&(f, desc)| (JsonPath::parse(SORT_FIELDS[f]).expect("sort fields are valid paths"), desc))
        .collect();
    let mut expected: Vec<&Document> = all.iter().filter(|d| parsed.matches(&d.body)).collect();
    expected.sort_by(|a, b| sort_cmp(&paths, a, b));
    let got: Vec<&Document> = pages.iter().flat_map(|(docs, _)| docs).collect();
    for (n, (docs, more)) in pages.iter().enumerate() {
        if docs.len() > limit || (*more && docs.len() != limit) {
            return Err(format!("page {n} has {} documents (limit {limit}, cursor: {more})", docs.len()));
        }
        if n > 0 && docs.is_empty() {
            return Err(format!("page {n} is empty after a cursor"));
        }
    }
    let ids = |ds: &[&Document]| ds.iter().map(|d| d.id.clone()).collect::<Vec<_>>();
    let distinct: BTreeSet<&str> = got.iter().map(|d| d.id.as_str()).collect();
    if distinct.len() != got.len() {
        return Err(format!("a document is returned twice: {:?}", ids(&got)));
    }
    if let Some(&(_, true)) = pages.last()
        && offset.is_none()
    {
        return Err(format!("cursors still going after {PAGES_MAX} pages"));
    }
    match offset {
        None if paths.is_empty() => {
            let mut a = ids(&got);
            let mut b = ids(&expected);
            a.sort();
            b.sort();
            if a != b {
                return Err(format!("result set {a:?}, brute force {b:?}"));
            }
        }
        None => {
            if ids(&got) != ids(&expected) {
                return Err(format!("results {:?}, brute force (sorted) {:?}", ids(&got), ids(&expected)));
            }
        }
        Some(o) => {
            let want = expected.len().saturating_sub(o).min(limit);
            if got.len() != want {
                return Err(format!("offset {o}: {} results, expected {want} of {:?}", got.len(), ids(&expected)));
            }
            if !paths.is_empty() {
                let window: Vec<&Document> = expected.iter().skip(o).take(limit).copied().collect();
                if ids(&got) != ids(&window) {
                    return Err(format!("offset {o}: results {:?}, brute force {:?}", ids(&got), ids(&window)));
                }
            } else if let Some(d) = got.iter().find(|d| !expected.iter().any(|e| e.id == d.id)) {
                return Err(format!("offset {o}: {:?} does not match the filter", d.id));
            }
        }
    }
    for d in got {
        if !expected.contains(&d) {
            return Err(format!("returned document differs from the stored one: {d:?}"));
        }
    }
    Ok(())
}

fn check_count(all: &[Document], filter: &Value, n: u64, exists: bool) -> Result<(), String> {
    let parsed = Filter::parse(filter).map_err(|e| format!("the engine accepted a filter that does not parse: {e}"))?;
    let want = all.iter().filter(|d| parsed.matches(&d.body)).count() as u64;
    if n != want || exists != (want > 0) {
        return Err(format!("count {n} / exists {exists}, brute force {want}"));
    }
    Ok(())
}

// ----- the harness ---------------------------------------------------------

/// Per space name: the log head last seen and the positions written while
/// the two HLCs could differ.
#[derive(Default)]
struct Tracked {
    head: u64,
    exempt: BTreeSet<u64>,
}

struct Harness {
    clock: Arc<ManualClock>,
    mem: Fixture,
    sql: Option<Fixture>,
    /// Space handles kept per engine (memory, sqlite) for `stale` actions.
    handles: [HashMap<usize, Space>; 2],
    idem_history: Vec<Request>,
    hlc_diverged: bool,
    tracked: BTreeMap<String, Tracked>,
}

impl Harness {
    fn new(make: Make) -> Self {
        let clock = Arc::new(ManualClock::default());
        let mem = memory_fixture(clock.clone());
        let sql = make(clock.clone());
        Self {
            clock,
            mem,
            sql: Some(sql),
            handles: [HashMap::new(), HashMap::new()],
            idem_history: Vec::new(),
            hlc_diverged: false,
            tracked: BTreeMap::new(),
        }
    }

    fn sql(&self) -> &Engine {
        &self.sql.as_ref().expect("the sqlite fixture is present between steps").engine
    }

    /// The reference engine's handle for `h`, without touching the cache.
    fn mem_space(&self, h: Handle) -> Option<Space> {
        match self.handles[0].get(&h.space) {
            Some(s) if h.stale => Some(s.clone()),
            _ => self.mem.engine.space(SPACES[h.space]).ok(),
        }
    }

    /// The document an operation targets: a pool id, or (`existing`) the
    /// `id`-th live document of the collection when it has any.
    fn doc_id(&self, h: Handle, coll: usize, id: usize, existing: bool) -> String {
        let live =
            || Some(all_docs(&self.mem_space(h)?, COLLS[coll]).ok()?.into_iter().map(|d| d.id).collect::<Vec<_>>());
        match (existing).then(live).flatten() {
            Some(ids) if !ids.is_empty() => ids[id % ids.len()].clone(),
            _ => IDS[id].to_owned(),
        }
    }

    fn expect(&self, g: ExpectGen, h: Handle, coll: usize, id: &str) -> Expect {
        match g {
            ExpectGen::Any => Expect::Any,
            ExpectGen::Absent => Expect::Absent,
            ExpectGen::Exists => Expect::Exists,
            ExpectGen::Near(d) => {
                let current = self.mem_space(h).and_then(|s| s.get(COLLS[coll], id).ok()).map_or(0, |d| d.version);
                Expect::Version(current.saturating_add_signed(d))
            }
        }
    }

    fn op(&self, h: Handle, g: &OpGen) -> Op {
        let id = self.doc_id(h, g.coll, g.id, g.existing);
        let collection = COLLS[g.coll].to_owned();
        match &g.kind {
            OpKind::Put { body, expect, ttl } => {
                let expect = self.expect(*expect, h, g.coll, &id);
                Op::Put { collection, id, body: body.clone(), expect, ttl_seconds: *ttl }
            }
            OpKind::Patch { patch, expect, ttl } => {
                let expect = self.expect(*expect, h, g.coll, &id);
                Op::Patch { collection, id, patch: patch.clone(), expect, ttl_seconds: *ttl }
            }
            OpKind::Delete { expect } => {
                let expect = self.expect(*expect, h, g.coll, &id);
                Op::Delete { collection, id, expect }
            }
        }
    }

    /// A collection index resolved to one of [`COLLS`] (see [`coll_idx`]).
    fn concrete_coll(&self, h: Handle, k: usize) -> usize {
        if k < COLLS.len() {
            return k;
        }
        let existing: Vec<usize> = self
            .mem_space(h)
            .and_then(|s| s.collections().ok())
            .map(|cs| cs.iter().filter_map(|c| COLLS.iter().position(|n| *n == c.name)).collect())
            .unwrap_or_default();
        if existing.is_empty() { k - COLLS.len() } else { existing[(k - COLLS.len()) % existing.len()] }
    }

    /// The action with every collection index resolved to a name's.
    fn concrete(&self, action: &Action) -> Action {
        let mut a = action.clone();
        match &mut a {
            Action::Write { h, op, .. } => op.coll = self.concrete_coll(*h, op.coll),
            Action::Transaction { h, ops, .. } => {
                ops.iter_mut().for_each(|op| op.coll = self.concrete_coll(*h, op.coll))
            }
            Action::BulkPut { h, coll, .. }
            | Action::BulkDelete { h, coll, .. }
            | Action::CreateCollection { h, coll, .. }
            | Action::UpdateCollection { h, coll, .. }
            | Action::DropCollection { h, coll }
            | Action::Query { h, coll, .. }
            | Action::Count { h, coll, .. }
            | Action::Get { h, coll, .. } => *coll = self.concrete_coll(*h, *coll),
            _ => {}
        }
        a
    }

    /// The concrete write an action makes, if it is one.
    fn resolve(&self, action: &Action) -> Option<Request> {
        let key = |k: &Option<usize>| k.map(|k| IDEM_KEYS[k].to_owned());
        Some(match action {
            Action::Write { h, op, key: k } => Request { h: *h, call: WriteCall::Single(self.op(*h, op)), key: key(k) },
            Action::Transaction { h, ops, key: k } => {
                Request { h: *h, call: WriteCall::Commit(ops.iter().map(|o| self.op(*h, o)).collect()), key: key(k) }
            }
            Action::BulkPut { h, coll, docs, key: k } => {
                let docs = docs.iter().map(|(id, body)| (IDS[*id].to_owned(), body.clone())).collect();
                Request { h: *h, call: WriteCall::BulkPut(COLLS[*coll].to_owned(), docs), key: key(k) }
            }
            Action::BulkDelete { h, coll, ids, key: k } => {
                let ids = ids.iter().map(|id| IDS[*id].to_owned()).collect();
                Request { h: *h, call: WriteCall::BulkDelete(COLLS[*coll].to_owned(), ids), key: key(k) }
            }
            Action::Replay { back } => {
                let n = self.idem_history.len();
                return (n > 0).then(|| self.idem_history[n - 1 - back % n].clone());
            }
            _ => return None,
        })
    }

    fn run(&mut self, actions: &[Action]) -> Result<(), TestCaseError> {
        let prelude = Action::CreateSpace(0);
        for (n, action) in std::iter::once(&prelude).chain(actions).enumerate() {
            let at = |what: String| TestCaseError::fail(format!("step {n} {action:?}: {what}"));
            self.step(action).map_err(at)?;
            bump(&STEPS, 1);
        }
        Ok(())
    }

    fn step(&mut self, action: &Action) -> Result<(), String> {
        match action {
            Action::AdvanceClock(ms) => {
                self.clock.advance_ms(*ms);
                self.hlc_diverged = false;
            }
            Action::Reopen { advance_clock } => {
                if *advance_clock {
                    self.clock.advance_ms(1);
                    self.hlc_diverged = false;
                } else {
                    self.hlc_diverged = true;
                }
                // Handles would keep the old engine (and its database) open
                // across the reopen: drop them first, on both sides alike.
                self.handles = [HashMap::new(), HashMap::new()];
                let sql = self.sql.take().expect("the sqlite fixture is present between steps");
                self.sql = Some(sql.reopen().expect("a sqlite fixture reopens"));
                bump(&REOPENS, 1);
            }
            _ => {}
        }
        let action = &self.concrete(action);
        let request = self.resolve(action);
        if let Some(req) = &request
            && req.key.is_some()
        {
            self.idem_history.push(req.clone());
        }
        let [mem_handles, sql_handles] = &mut self.handles;
        let m = exec(&self.mem.engine, mem_handles, action, request.as_ref());
        let s = exec(
            &self.sql.as_ref().expect("the sqlite fixture is present between steps").engine,
            sql_handles,
            action,
            request.as_ref(),
        );
        if std::env::var_os("ENGRAM_MODEL_TRACE").is_some() {
            eprintln!("TRACE {action:?}\n  request: {request:?}\n  => {m:?}");
        }
        if m != s {
            return Err(format!("outcomes differ:\n  memory: {m:?}\n  sqlite: {s:?}\n  request: {request:?}"));
        }
        count_outcome(action, &m);
        match &m {
            Outcome::Err(_) => bump(&ERROR_OUTCOMES, 1),
            Outcome::Write(_) | Outcome::Commit(_) => bump(&OK_WRITES, 1),
            _ => {}
        }
        self.oracle(action, &m)?;
        self.compare_state()
    }

    /// Brute-force checks of successful queries and counts (reference side).
    fn oracle(&mut self, action: &Action, out: &Outcome) -> Result<(), String> {
        let (h, coll) = match action {
            Action::Query { h, coll, .. } | Action::Count { h, coll, .. } => (*h, *coll),
            _ => return Ok(()),
        };
        if matches!(out, Outcome::Err(_)) {
            return Ok(());
        }
        let space = self.mem_space(h).ok_or("the space of a successful read is gone")?;
        let all = all_docs(&space, COLLS[coll]).map_err(|e| format!("listing for the oracle: {e}"))?;
        bump(&QUERIES_CHECKED, 1);
        if space.collection(COLLS[coll]).is_ok_and(|c| !c.spec.indexes.is_empty()) {
            bump(&QUERIES_ON_INDEXES, 1);
        }
        if let Outcome::Pages(pages) = out {
            bump(&QUERY_RESULTS, pages.iter().map(|p| p.0.len() as u64).sum());
        }
        match (action, out) {
            (Action::Query { filter, sort, limit, offset, .. }, Outcome::Pages(pages)) => {
                check_query(&all, filter, sort, *limit, *offset, pages)
            }
            (Action::Count { filter, .. }, Outcome::Count(n, e)) => check_count(&all, filter, *n, *e),
            _ => Err(format!("unexpected outcome {out:?}")),
        }
    }

    fn compare_state(&mut self) -> Result<(), String> {
        let m = snapshot(&self.mem.engine).map_err(|e| format!("memory snapshot: {e}"))?;
        let s = snapshot(self.sql()).map_err(|e| format!("sqlite snapshot: {e}"))?;
        let names = |v: &[SpaceSnap]| v.iter().map(|x| x.info.clone()).collect::<Vec<_>>();
        if names(&m) != names(&s) {
            return Err(format!("spaces differ: memory {:?}, sqlite {:?}", names(&m), names(&s)));
        }
        self.tracked.retain(|name, _| m.iter().any(|x| &x.info.name == name));
        for (a, b) in m.iter().zip(&s) {
            let name = &a.info.name;
            let ca: Vec<&CollectionInfo> = a.collections.iter().map(|c| &c.0).collect();
            let cb: Vec<&CollectionInfo> = b.collections.iter().map(|c| &c.0).collect();
            if ca != cb {
                return Err(format!("space {name}: collections differ:\n  memory: {ca:?}\n  sqlite: {cb:?}"));
            }
            for ((info, da), (_, db)) in a.collections.iter().zip(&b.collections) {
                if da != db {
                    return Err(format!(
                        "space {name} collection {}: documents differ:\n  memory: {da:?}\n  sqlite: {db:?}",
                        info.name
                    ));
                }
            }
            let t = self.tracked.entry(name.clone()).or_default();
            let head = a.log.last().map_or(0, |e| e.position);
            if self.hlc_diverged {
                let new: Vec<u64> = a.log.iter().map(|e| e.position).filter(|p| *p > t.head).collect();
                bump(&HLC_EXEMPT_ENTRIES, new.len() as u64);
                t.exempt.extend(new);
            }
            t.head = head;
            MAX_LOG.fetch_max(head, AtomicOrdering::Relaxed);
            let identical = compare_logs(name, &a.log, &b.log, &t.exempt)?;
            let chain_ok = a.chain.entries == b.chain.entries && a.chain.head_position == b.chain.head_position;
            if !chain_ok || (identical && a.chain.head_hash != b.chain.head_hash) {
                return Err(format!("space {name}: chains differ: memory {:?}, sqlite {:?}", a.chain, b.chain));
            }
        }
        Ok(())
    }
}

fn config() -> ProptestConfig {
    let cases = match std::env::var("ENGRAM_PROPTEST_CASES") {
        Ok(v) => v.trim().parse().expect("ENGRAM_PROPTEST_CASES is a whole number of cases"),
        Err(_) => CASES_DEFAULT,
    };
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/proptest-regressions/model_based.txt"
        )))),
        max_shrink_iters: 4_096,
        ..ProptestConfig::default()
    }
}

/// Runs the model-based comparison with the backend under test from `make`.
fn matches_the_reference_model(name: &'static str, make: Make, cases: u32) {
    // Generating and shrinking these nested strategies takes more than the
    // test thread's 2 MiB of stack in a debug build.
    let worker = std::thread::Builder::new().stack_size(STACK_BYTES).spawn(move || {
        let mut runner = TestRunner::new(ProptestConfig { cases, ..config() });
        let result = runner.run(&actions(), |actions| Harness::new(make).run(&actions));
        (result.map_err(|e| e.to_string()), runner.config().cases, runner.to_string())
    });
    let (result, cases, runner) =
        worker.expect("spawning the test thread").join().expect("the test thread does not panic");
    let load = |c: &AtomicU64| c.load(AtomicOrdering::Relaxed);
    eprintln!(
        "model_based ({name}): {} cases of up to {ACTIONS_MAX} actions; steps {}, reopens {}, successful writes {}, error outcomes {}, \
         queries and counts checked by brute force {} ({} on indexed collections, {} documents returned), expire runs ordered differently {}, \
         entries with HLC compared on milliseconds only {}, longest change log {}",
        cases,
        load(&STEPS),
        load(&REOPENS),
        load(&OK_WRITES),
        load(&ERROR_OUTCOMES),
        load(&QUERIES_CHECKED),
        load(&QUERIES_ON_INDEXES),
        load(&QUERY_RESULTS),
        load(&EXPIRE_RUNS_REORDERED),
        load(&HLC_EXEMPT_ENTRIES),
        load(&MAX_LOG),
    );
    if std::env::var_os("ENGRAM_MODEL_STATS").is_some() {
        let tally = OUTCOMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (what, n) in tally.iter() {
            eprintln!("  {what} {n}");
        }
    }
    if let Err(e) = result {
        panic!("{e}\n{runner}");
    }
}

#[test]
fn sqlite_matches_the_reference_model() {
    matches_the_reference_model("sqlite", sqlite_fixture, config().cases);
}

/// Fewer cases than on SQLite by default: each case creates a database
/// (`ENGRAM_PG_PROPTEST_CASES` for more).
#[test]
fn postgres_matches_the_reference_model() {
    if !postgres_available() {
        return;
    }
    let cases = match std::env::var("ENGRAM_PG_PROPTEST_CASES") {
        Ok(v) => v.trim().parse().expect("ENGRAM_PG_PROPTEST_CASES is a whole number of cases"),
        Err(_) => PG_CASES_DEFAULT,
    };
    matches_the_reference_model("postgres", postgres_fixture, cases);
}
