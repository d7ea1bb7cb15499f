//! The JSON Web Key Set of `GET /{env}/.well-known/jwks.json` (RFC 7517), as the server
//! publishes it: public signing keys only.

use serde::{Deserialize, Serialize};

/// A JSON Web Key Set (RFC 7517 §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JwkSet {
    /// The environment's public signing keys: the active one, pending ones (published
    /// before they sign) and retired ones (until their last token has expired).
    pub keys: Vec<Jwk>,
}

/// One public signing key (RFC 7517 §4; RFC 8037 for Ed25519, RFC 7518 §6.2 for P-256),
/// members in the order the service has always served them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwk {
    /// Always `sig`.
    #[serde(rename = "use")]
    #[cfg_attr(feature = "openapi", schema(example = "sig"))]
    pub key_use: String,
    /// `EdDSA` or `ES256`.
    #[cfg_attr(feature = "openapi", schema(example = "EdDSA"))]
    pub alg: String,
    /// Key id, the `kid` in the header of the tokens it signs.
    pub kid: String,
    /// `OKP` (Ed25519) or `EC` (P-256).
    #[cfg_attr(feature = "openapi", schema(example = "OKP"))]
    pub kty: String,
    /// `Ed25519` or `P-256`.
    pub crv: String,
    /// Public key (base64url): the Ed25519 key, or the P-256 point's x coordinate.
    pub x: String,
    /// The P-256 point's y coordinate (base64url); absent for Ed25519.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = false))]
    pub y: Option<String>,
}
