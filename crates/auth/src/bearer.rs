//! Getting from an `Authorization` header to a JWT and the env its prefix claims.

use loopdesk_contracts::Env;

use crate::AuthError;

/// Extracts the token from an `Authorization` header value: `Bearer <token>`, with the
/// scheme matched case-insensitively (RFC 9110 §11.1) and surrounding spaces ignored.
pub fn bearer_token(header_value: &str) -> Result<&str, AuthError> {
    let value = header_value.trim();
    let (scheme, rest) = value.split_once(' ').ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    let token = rest.trim_start();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(AuthError::NotBearer);
    }
    Ok(token)
}

/// Splits `ld_test_<jwt>` / `ld_live_<jwt>` into the env the prefix names and the JWT.
pub fn split_prefix(key: &str) -> Result<(Env, &str), AuthError> {
    let rest = key.strip_prefix("ld_").ok_or(AuthError::MissingPrefix)?;
    let (env, jwt) = if let Some(jwt) = rest.strip_prefix("test_") {
        (Env::Test, jwt)
    } else if let Some(jwt) = rest.strip_prefix("live_") {
        (Env::Live, jwt)
    } else {
        return Err(AuthError::MissingPrefix);
    };
    if jwt.is_empty() {
        return Err(AuthError::MalformedToken);
    }
    Ok((env, jwt))
}

/// The prefix a key of `env` carries.
pub(crate) fn prefix_for(env: Env) -> &'static str {
    match env {
        Env::Test => "ld_test_",
        Env::Live => "ld_live_",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer ld_test_abc"), Ok("ld_test_abc"));
        assert_eq!(bearer_token("bearer ld_test_abc"), Ok("ld_test_abc"));
        assert_eq!(bearer_token("  BEARER   ld_test_abc "), Ok("ld_test_abc"));
    }

    #[test]
    fn non_bearer_headers_are_refused() {
        for value in [
            "",
            "Bearer",
            "Bearer ",
            "Basic dXNlcjpwdw==",
            "ld_test_abc",
            "Bearer a b",
        ] {
            assert_eq!(bearer_token(value), Err(AuthError::NotBearer), "{value:?}");
        }
    }

    #[test]
    fn prefixes_name_the_env() {
        assert_eq!(split_prefix("ld_test_x.y.z"), Ok((Env::Test, "x.y.z")));
        assert_eq!(split_prefix("ld_live_x.y.z"), Ok((Env::Live, "x.y.z")));
        assert_eq!(split_prefix("ld_prod_x.y.z"), Err(AuthError::MissingPrefix));
        assert_eq!(split_prefix("x.y.z"), Err(AuthError::MissingPrefix));
        assert_eq!(split_prefix("ld_test_"), Err(AuthError::MalformedToken));
    }
}
