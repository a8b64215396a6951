//! Identity providers (OIDC, SAML, JWT).

use crate::{secret, ComponentKind, Restore, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/protocol", "/provider", "/description"],
        secrets: &[secret("/options/clientSecret"), secret("/pendingOptions/clientSecret"), secret("/options/decryptingKey/privateKey"), secret("/pendingOptions/decryptingKey/privateKey"), secret("/options/signingKeys/*/privateKey")],
        restore: Restore::Recreate,
        restore_note: "The OIDC client secret and private keys are re-entered; SAML signing keys are regenerated, so the IdP side is updated too.",
    ..ComponentKind::new("identity-providers", "identity/identity-providers", Source::List { path: "/api/v1/identity-providers", query: "limit=100", property: "data" })
};
