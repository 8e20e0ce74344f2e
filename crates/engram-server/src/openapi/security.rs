//! The bearer-key scheme, applied to every route that needs a key.

use super::operations;

/// Declares the bearer-key scheme and applies it to every route that needs
/// a key (per `auth::policy`), so the document says which routes are public.
pub(super) struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("egk_…").build()),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, op) in operations(item) {
                if crate::auth::policy(&method, path) != crate::auth::Access::Public {
                    op.security = Some(vec![SecurityRequirement::new("api_key", Vec::<String>::new())]);
                }
            }
        }
    }
}
