//! What the voice providers share: a call's parties and its transcript message.

use chrono::{DateTime, Utc};

use crate::provider::Context;
use crate::schema::{Direction, Kind, Message, Segment, Speaker, Transcript};

/// One call as a provider describes it.
#[derive(Debug, Default)]
pub struct Call<'a> {
    pub id: &'a str,
    /// Who called whom: inbound calls come from the customer.
    pub direction: Option<Direction>,
    pub caller: Option<&'a str>,
    pub callee: Option<&'a str>,
    pub started_at: Option<DateTime<Utc>>,
}

/// The call's transcript message. The customer is the caller on inbound calls and the callee
/// on outbound ones; a call with no numbers (a web call, an uploaded recording) is keyed by
/// its call id. `event_key` names the provider event, so a redelivery gets the same id.
pub fn transcript_message(
    ctx: &Context,
    call: &Call,
    event_key: &str,
    mut transcript: Transcript,
) -> Message {
    let direction = call.direction.unwrap_or(Direction::Inbound);
    let (customer, business) = match direction {
        Direction::Inbound => (call.caller, call.callee),
        Direction::Outbound => (call.callee, call.caller),
    };
    let customer = ctx.phone_party(customer.unwrap_or(call.id));
    let business = ctx.phone_party(business.unwrap_or(ctx.provider));
    let number = |n: Option<&str>| n.map(|n| crate::identity::e164(n).unwrap_or(n.to_string()));
    transcript.call_id = call.id.to_string();
    // Millisecond precision: providers' float arithmetic is not meaningful below that.
    let ms = |t: f64| (t * 1000.0).round() / 1000.0;
    for segment in &mut transcript.segments {
        segment.start = ms(segment.start);
        segment.end = ms(segment.end);
    }
    if let Some(duration) = &mut transcript.duration_seconds {
        *duration = ms(*duration);
    }
    transcript.caller = number(call.caller);
    transcript.callee = number(call.callee);
    if transcript.full_text.is_none() && !transcript.segments.is_empty() {
        transcript.full_text = Some(full_text(&transcript.segments));
    }
    let mut m = ctx.message(
        Kind::Transcript,
        direction,
        call.id,
        event_key,
        customer,
        business,
    );
    m.sent_at = call.started_at;
    m.transcript = Some(transcript);
    m
}

/// Segments as one text, one line per turn, prefixed with the speaker.
pub fn full_text(segments: &[Segment]) -> String {
    segments
        .iter()
        .map(|s| format!("{}: {}", speaker_label(s.speaker), s.text))
        .collect::<Vec<_>>()
        .join("\n")
}

fn speaker_label(speaker: Speaker) -> &'static str {
    match speaker {
        Speaker::Customer => "Customer",
        Speaker::Agent => "Agent",
        Speaker::Bot => "Bot",
        Speaker::Unknown => "Speaker",
    }
}

/// `inbound`/`outbound` as the providers spell them (`outbound-api`, `outboundPhoneCall`).
pub fn direction(text: &str) -> Option<Direction> {
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("inbound") {
        Some(Direction::Inbound)
    } else if lower.starts_with("outbound") {
        Some(Direction::Outbound)
    } else {
        None
    }
}

/// Speaker roles by diarised speaker (or channel) index, from a comma list such as
/// `customer,agent` that the integration passes along with the job; unknown past its end.
pub fn speaker_roles(list: Option<&str>) -> Vec<Speaker> {
    list.unwrap_or_default()
        .split(',')
        .map(|role| match role.trim().to_ascii_lowercase().as_str() {
            "customer" | "caller" | "user" => Speaker::Customer,
            "agent" => Speaker::Agent,
            "bot" | "assistant" => Speaker::Bot,
            _ => Speaker::Unknown,
        })
        .collect()
}

pub fn role_at(roles: &[Speaker], index: Option<usize>) -> Speaker {
    index
        .and_then(|i| roles.get(i).copied())
        .unwrap_or(Speaker::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_and_roles() {
        assert_eq!(direction("outbound-api"), Some(Direction::Outbound));
        assert_eq!(direction("inboundPhoneCall"), Some(Direction::Inbound));
        assert_eq!(direction("webCall"), None);
        let roles = speaker_roles(Some("customer, Agent"));
        assert_eq!(role_at(&roles, Some(0)), Speaker::Customer);
        assert_eq!(role_at(&roles, Some(1)), Speaker::Agent);
        assert_eq!(role_at(&roles, Some(2)), Speaker::Unknown);
        assert_eq!(role_at(&speaker_roles(None), Some(0)), Speaker::Unknown);
    }
}
