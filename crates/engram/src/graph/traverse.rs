//! Traversals over the in-memory graph: breadth-first neighbourhoods and
//! shortest paths (by hops, or by summed weight with a hop bound).
//!
//! Every traversal keeps a visited set (cycles end), a depth bound, a
//! result limit and a bound on edges examined (GRAPH_EXPAND_MAX), so huge
//! fan-out yields a truncated result, never an unbounded run.

use crate::graph::index::{Adj, GraphIndex};
use crate::graph::types::{Direction, Hop, NodeRef};
use engram_core::limits::GRAPH_EXPAND_MAX;
use engram_core::{Error, Result};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};

/// Which edge types a traversal follows: `None` = all.
pub(crate) struct TypeSet(Option<HashSet<u32>>);

impl TypeSet {
    pub fn of(graph: &GraphIndex, names: &[String]) -> Self {
        if names.is_empty() {
            return Self(None);
        }
        Self(Some(names.iter().filter_map(|n| graph.type_id(n)).collect()))
    }

    fn allows(&self, ty: u32) -> bool {
        self.0.as_ref().is_none_or(|s| s.contains(&ty))
    }
}

/// An edge as walked: `other` is the far end, `forward` whether it was
/// followed from its `from` side.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    pub from: u32,
    pub other: u32,
    pub ty: u32,
    pub weight: f64,
    pub forward: bool,
}

/// Calls `f` for each edge at `node` that the direction and types allow.
fn for_each_step(graph: &GraphIndex, node: u32, dir: Direction, types: &TypeSet, mut f: impl FnMut(Step)) {
    let mut walk = |adj: &[Adj], forward: bool| {
        for a in adj.iter().filter(|a| types.allows(a.ty)) {
            f(Step { from: node, other: a.node, ty: a.ty, weight: a.weight, forward });
        }
    };
    if matches!(dir, Direction::Out | Direction::Both) {
        walk(&graph.out[node as usize], true);
    }
    if matches!(dir, Direction::In | Direction::Both) {
        walk(&graph.inn[node as usize], false);
    }
}

/// The edge of a step, oriented as stored.
pub(crate) fn hop(graph: &GraphIndex, s: Step) -> Hop {
    let (from, to) = if s.forward { (s.from, s.other) } else { (s.other, s.from) };
    Hop {
        from: NodeRef::from_key(graph.node_key(from)),
        to: NodeRef::from_key(graph.node_key(to)),
        edge_type: graph.type_name(s.ty).to_owned(),
        weight: s.weight,
    }
}

/// Nodes reached breadth-first from `start`, in order of discovery, each
/// with its depth and first edge. `accept` decides which count toward
/// `limit` (others are still traversed). Returns whether it was truncated.
pub(crate) fn bfs(
    graph: &GraphIndex,
    start: u32,
    depth: u32,
    dir: Direction,
    types: &TypeSet,
    limit: usize,
    mut accept: impl FnMut(u32, u32, Step) -> Result<bool>,
) -> Result<bool> {
    let mut seen: HashSet<u32> = HashSet::from([start]);
    let mut frontier = vec![start];
    let (mut expanded, mut accepted) = (0usize, 0usize);
    let mut failed: Option<Error> = None;
    for d in 1..=depth {
        let mut next = Vec::new();
        for &node in &frontier {
            let mut stop = false;
            for_each_step(graph, node, dir, types, |s| {
                if stop {
                    return;
                }
                expanded += 1;
                stop = expanded > GRAPH_EXPAND_MAX;
                if stop || !seen.insert(s.other) {
                    return;
                }
                next.push(s.other);
                match accept(s.other, d, s) {
                    Ok(true) => {
                        accepted += 1;
                        stop = accepted > limit;
                    }
                    Ok(false) => {}
                    Err(e) => {
                        failed = Some(e);
                        stop = true;
                    }
                }
            });
            if let Some(e) = failed {
                return Err(e);
            }
            if stop {
                return Ok(true);
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    Ok(false)
}

/// A path: its steps in order, its cost, and whether the search was cut.
pub(crate) struct Found {
    pub steps: Option<Vec<Step>>,
    pub cost: f64,
    pub truncated: bool,
}

/// Fewest hops from `start` to `goal`, at most `max_depth`.
pub(crate) fn shortest_hops(
    graph: &GraphIndex,
    start: u32,
    goal: u32,
    max_depth: u32,
    dir: Direction,
    types: &TypeSet,
) -> Found {
    let mut parent: HashMap<u32, Step> = HashMap::new();
    let mut frontier = vec![start];
    let mut expanded = 0usize;
    for _ in 0..max_depth {
        let mut next = Vec::new();
        for &node in &frontier {
            let mut hit = false;
            for_each_step(graph, node, dir, types, |s| {
                expanded += 1;
                if s.other != start && !parent.contains_key(&s.other) {
                    parent.insert(s.other, s);
                    hit |= s.other == goal;
                    next.push(s.other);
                }
            });
            if hit {
                let steps = unwind(&parent, start, goal);
                let cost = steps.len() as f64;
                return Found { steps: Some(steps), cost, truncated: false };
            }
            if expanded > GRAPH_EXPAND_MAX {
                return Found { steps: None, cost: 0.0, truncated: true };
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    Found { steps: None, cost: 0.0, truncated: false }
}

#[derive(PartialEq)]
struct Queued {
    cost: f64,
    hops: u32,
    node: u32,
    /// Index of the label that reached this state.
    label: usize,
}

impl Eq for Queued {}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        // Min-heap on cost, then on hops.
        other.cost.total_cmp(&self.cost).then(other.hops.cmp(&self.hops))
    }
}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Least summed weight from `start` to `goal` over at most `max_depth`
/// hops. States are (node, hops); a state is dominated when its node was
/// already settled with no more hops (Dijkstra settles in cost order, so
/// that earlier state was no costlier).
pub(crate) fn shortest_weighted(
    graph: &GraphIndex,
    start: u32,
    goal: u32,
    max_depth: u32,
    dir: Direction,
    types: &TypeSet,
) -> Found {
    // labels[i] = (step that reached it, index of the previous label).
    let mut labels: Vec<(Option<Step>, usize)> = vec![(None, usize::MAX)];
    let mut settled: HashMap<u32, u32> = HashMap::new();
    let mut heap = BinaryHeap::from([Queued { cost: 0.0, hops: 0, node: start, label: 0 }]);
    let mut expanded = 0usize;
    while let Some(q) = heap.pop() {
        if settled.get(&q.node).is_some_and(|&h| h <= q.hops) {
            continue;
        }
        settled.insert(q.node, q.hops);
        if q.node == goal {
            let mut steps = Vec::new();
            let mut at = q.label;
            while let (Some(s), prev) = labels[at] {
                steps.push(s);
                at = prev;
            }
            steps.reverse();
            return Found { steps: Some(steps), cost: q.cost, truncated: false };
        }
        if q.hops == max_depth {
            continue;
        }
        let mut pushes = Vec::new();
        for_each_step(graph, q.node, dir, types, |s| {
            expanded += 1;
            if settled.get(&s.other).is_none_or(|&h| h > q.hops + 1) {
                pushes.push(s);
            }
        });
        for s in pushes {
            labels.push((Some(s), q.label));
            heap.push(Queued { cost: q.cost + s.weight, hops: q.hops + 1, node: s.other, label: labels.len() - 1 });
        }
        if expanded > GRAPH_EXPAND_MAX {
            return Found { steps: None, cost: 0.0, truncated: true };
        }
    }
    Found { steps: None, cost: 0.0, truncated: false }
}

fn unwind(parent: &HashMap<u32, Step>, start: u32, goal: u32) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut at = goal;
    while at != start {
        let s = parent[&at];
        steps.push(s);
        at = s.from;
    }
    steps.reverse();
    steps
}
