//! The cookies a request carries, as `(name, value)` pairs: the one reader of `Cookie` headers
//! for the session, the catalog's flow and the connect popup.

use axum::http::{HeaderMap, header};

/// Every `name=value` pair of every `Cookie` header, in order (a name may come more than once).
pub fn pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn pairs_come_from_every_cookie_header_in_order() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        headers.append(header::COOKIE, HeaderValue::from_static("a=3;broken; c="));
        let pairs: Vec<_> = pairs(&headers).collect();
        assert_eq!(pairs, [("a", "1"), ("b", "2"), ("a", "3"), ("c", "")]);
    }
}
