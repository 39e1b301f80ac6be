//! Normalised customer identities, so one person is recognised across channels.

/// The E.164 form of a provider's phone identifier, or `None` when it is not a valid number.
///
/// Accepts `+14155550100`, `14155550100` (Vonage and WhatsApp send digits without `+`),
/// and prefixed forms such as `whatsapp:+14155550100` or `tel:+1...`. National numbers
/// without a country code cannot be placed and give `None`.
pub fn e164(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let raw = raw.rsplit_once(':').map_or(raw, |(_, number)| number);
    let digits = raw.strip_prefix('+').unwrap_or(raw);
    let plausible = (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if !plausible {
        return None;
    }
    let number = phonenumber::parse(None, format!("+{digits}")).ok()?;
    phonenumber::is_valid(&number)
        .then(|| number.format().mode(phonenumber::Mode::E164).to_string())
}

/// An e-mail address with its domain lower-cased (the local part is case-sensitive by the RFC,
/// though few servers treat it so), or `None` when it is not an address: no `@`, an empty
/// part, spaces or control characters, brackets or separators that belong around an address
/// rather than in it, or a domain that is not dot-separated labels.
pub fn normalise_email(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let (local, domain) = raw.rsplit_once('@')?;
    let clean = |part: &str| {
        !part.is_empty()
            && !part
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"@".contains(c))
    };
    let labels_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    });
    (clean(local) && clean(domain) && labels_ok)
        .then(|| format!("{local}@{}", domain.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_forms_normalise_to_e164() {
        assert_eq!(e164("+14155550100").as_deref(), Some("+14155550100"));
        assert_eq!(e164("+12025550123").as_deref(), Some("+12025550123"));
        assert_eq!(e164("447911123456").as_deref(), Some("+447911123456"));
        assert_eq!(
            e164("whatsapp:+447911123456").as_deref(),
            Some("+447911123456")
        );
        assert_eq!(
            e164("tel:+4915112345678").as_deref(),
            Some("+4915112345678")
        );
    }

    #[test]
    fn non_numbers_are_not_phones() {
        for raw in [
            "",
            "abc",
            "12345",
            "+0123456789",
            "U4af4980629",
            "07700900123",
            "+1-202-555",
        ] {
            assert_eq!(e164(raw), None, "{raw}");
        }
    }

    #[test]
    fn email_domain_is_lower_cased() {
        assert_eq!(
            normalise_email(" Jane.Doe@Example.COM ").as_deref(),
            Some("Jane.Doe@example.com")
        );
        assert_eq!(normalise_email("nobody"), None);
        assert_eq!(normalise_email("@example.com"), None);
        // Not addresses, though they hold an `@`: they must never become identity keys.
        for raw in [
            "Jane Doe@example.com",
            "jane@exa mple.com",
            "jane@",
            "jane@example..com",
            "<jane@example.com>",
            "jane@example.com, joe@example.com",
            "jane\u{0}@example.com",
            "undisclosed-recipients:;@",
        ] {
            assert_eq!(normalise_email(raw), None, "{raw:?}");
        }
        assert_eq!(
            normalise_email("josé@exämple.com").as_deref(),
            Some("josé@exämple.com")
        );
    }
}
