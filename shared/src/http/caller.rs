//! The caller, from the API Gateway JWT authorizer's claims and nothing else.

use std::collections::HashMap;

use super::error::ApiError;
use crate::domain::streams::MAX_USER_ID_BYTES;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Creator,
    Seller,
    Admin,
}

impl Role {
    fn parse(s: &str) -> Option<Role> {
        match s {
            "creator" => Some(Role::Creator),
            "seller" => Some(Role::Seller),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub roles: Vec<Role>,
    /// The `age_verified` claim is exactly `"true"`.
    pub adult: bool,
}

impl Caller {
    /// `None` claims (no authorizer ran) or no usable `sub` → 401.
    pub fn from_claims(claims: Option<&HashMap<String, String>>) -> Result<Caller, ApiError> {
        let claims = claims.ok_or(ApiError::Unauthenticated)?;
        let user_id = claims
            .get("sub")
            .filter(|s| !s.trim().is_empty() && s.len() <= MAX_USER_ID_BYTES)
            .ok_or(ApiError::Unauthenticated)?
            .clone();
        let roles = claims
            .get("cognito:groups")
            .map_or_else(Vec::new, |g| parse_groups(g));
        Ok(Caller {
            user_id,
            roles,
            adult: claims.get("age_verified").is_some_and(|v| v == "true"),
        })
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.has(role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                format!("requires the {role:?} role").to_lowercase(),
            ))
        }
    }
}

/// API Gateway flattens an array claim to `[creator seller]`; a JSON array `["creator","seller"]`
/// is accepted too. Unknown groups are ignored.
fn parse_groups(raw: &str) -> Vec<Role> {
    if let Ok(list) = serde_json::from_str::<Vec<String>>(raw) {
        return list.iter().filter_map(|g| Role::parse(g)).collect();
    }
    raw.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split([' ', ','])
        .filter_map(|g| Role::parse(g.trim().trim_matches('"')))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn groups_in_gateway_and_json_form() {
        for raw in [
            "[creator seller]",
            r#"["creator","seller"]"#,
            "creator",
            "[creator, seller, other]",
        ] {
            let c = Caller::from_claims(Some(&claims(&[("sub", "u"), ("cognito:groups", raw)])))
                .unwrap();
            assert!(c.has(Role::Creator), "{raw}");
        }
        let c = Caller::from_claims(Some(&claims(&[
            ("sub", "u"),
            ("cognito:groups", "[admin]"),
        ])))
        .unwrap();
        assert_eq!(c.roles, vec![Role::Admin]);
        assert!(!c.adult);
    }

    #[test]
    fn no_claims_or_no_subject_is_unauthenticated() {
        assert!(matches!(
            Caller::from_claims(None),
            Err(ApiError::Unauthenticated)
        ));
        assert!(matches!(
            Caller::from_claims(Some(&claims(&[("sub", " ")]))),
            Err(ApiError::Unauthenticated)
        ));
        let adult =
            Caller::from_claims(Some(&claims(&[("sub", "u"), ("age_verified", "true")]))).unwrap();
        assert!(adult.adult);
        assert!(matches!(
            adult.require(Role::Creator),
            Err(ApiError::Forbidden(_))
        ));
    }
}
