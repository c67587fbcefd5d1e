//! Input rules shared by the routes and the seed loader.

/// Longest `external_id` accepted (Xkit documented none; 255 fits every database key).
pub const MAX_EXTERNAL_ID_CHARS: usize = 255;
/// Longest `external_name` accepted.
pub const MAX_EXTERNAL_NAME_CHARS: usize = 1024;

/// Longest query parameter value accepted by the list routes: room for a search over the
/// longest name and for a cursor over the longest id, far below SQLite's LIKE pattern limit.
pub const MAX_QUERY_VALUE_CHARS: usize = 2048;

/// A query parameter of a list route (`search`, `cursor`, `limit`, filters...): at most
/// [`MAX_QUERY_VALUE_CHARS`] characters once decoded.
pub fn query_value(name: &str, value: &str) -> Result<(), String> {
    if value.chars().count() > MAX_QUERY_VALUE_CHARS {
        // The name is echoed only when short: the answer must not grow with the request.
        let name = if name.chars().count() <= 32 { format!(" {name:?}") } else { String::new() };
        return Err(format!("query parameter{name} must be at most {MAX_QUERY_VALUE_CHARS} characters"));
    }
    Ok(())
}

/// A web origin, `http(s)://host[:port]`, in the form browsers send in `Origin` (lower case, no
/// default port, no trailing `/`). A path, query or user name is refused rather than dropped.
pub fn web_origin(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text.trim()).map_err(|error| format!("{text:?} is not an origin: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?}: an origin is http:// or https://"));
    }
    let origin = url.origin().ascii_serialization();
    let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none() && url.username().is_empty();
    if !bare || url.password().is_some() {
        return Err(format!("{text:?} is not an origin; write it as {origin:?} (scheme, host and port only)"));
    }
    Ok(origin)
}

/// `external_id`: required, not blank, at most 255 characters, no control characters.
pub fn external_id(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("external_id must not be empty".into());
    }
    // An id of spaces looks empty in every listing and cannot be told from its neighbours.
    if value.trim().is_empty() {
        return Err("external_id must not be only whitespace".into());
    }
    if value.chars().count() > MAX_EXTERNAL_ID_CHARS {
        return Err(format!("external_id must be at most {MAX_EXTERNAL_ID_CHARS} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err("external_id must not contain control characters".into());
    }
    Ok(())
}

pub fn external_name(value: Option<&str>) -> Result<(), String> {
    match value {
        Some(name) if name.chars().count() > MAX_EXTERNAL_NAME_CHARS => {
            Err(format!("external_name must be at most {MAX_EXTERNAL_NAME_CHARS} characters"))
        }
        _ => Ok(()),
    }
}

/// Platform and connector slugs: 1 to 63 of `a-z`, `0-9` and `-`, as in a URL or subdomain.
pub fn slug(value: &str) -> Result<(), String> {
    let valid = !value.is_empty()
        && value.len() <= 63
        && value.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
    if valid { Ok(()) } else { Err(format!("slug {value:?} must be 1-63 characters of a-z, 0-9 and -")) }
}

/// Longest connection id a client may choose (`addConnection(slug, id)`).
pub const MAX_CONNECTION_ID_CHARS: usize = 255;

/// A client-chosen connection id: 1 to 255 of `A-Z`, `a-z`, `0-9`, `-`, `_`, `.`, `:`, since
/// xkit.js puts ids into paths unencoded (a uuid, in practice).
pub fn connection_id(value: &str) -> Result<(), String> {
    let valid = !value.is_empty()
        && value.len() <= MAX_CONNECTION_ID_CHARS
        && value.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(&byte));
    if valid {
        Ok(())
    } else {
        Err(format!("a connection id must be 1-{MAX_CONNECTION_ID_CHARS} characters of A-Z, a-z, 0-9, -, _, . and :"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_origins_are_normalised_as_browsers_send_them_or_refused() {
        assert_eq!(web_origin("HTTPS://App.Example.com/").unwrap(), "https://app.example.com");
        assert_eq!(web_origin("https://app.example.com:443").unwrap(), "https://app.example.com");
        assert_eq!(web_origin("http://127.0.0.1:3000").unwrap(), "http://127.0.0.1:3000");
        for refused in [
            "https://app.example.com/page",
            "https://a.example/?q",
            "https://user@a.example",
            "ftp://a.example",
            "app.example.com",
        ] {
            assert!(web_origin(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn external_id_rules() {
        assert!(external_id("user-1@acme.example").is_ok());
        assert!(external_id(&"é".repeat(255)).is_ok(), "the limit counts characters, not bytes");
        assert!(external_id("").is_err());
        assert!(external_id(" \t\u{3000} ").is_err(), "whitespace alone is no id");
        assert!(external_id(" padded ").is_ok(), "inner content makes it an id");
        assert!(external_id(&"x".repeat(256)).is_err());
        assert!(external_id("a\nb").is_err());
        assert!(external_id("a\u{1b}[31m").is_err());
    }

    #[test]
    fn query_value_rules() {
        assert!(query_value("search", &"é".repeat(MAX_QUERY_VALUE_CHARS)).is_ok());
        let error = query_value("search", &"x".repeat(MAX_QUERY_VALUE_CHARS + 1)).unwrap_err();
        assert!(error.contains("\"search\""), "{error}");
        assert!(!query_value(&"n".repeat(100), &"x".repeat(49_999)).unwrap_err().contains("nnn"));
    }

    #[test]
    fn slug_rules() {
        assert!(slug("google-drive").is_ok());
        assert!(slug("Slack").is_err());
        assert!(slug("").is_err());
        assert!(slug("a/b").is_err());
    }
}
