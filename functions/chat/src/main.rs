//! The chat channel function: Slack, Intercom, Zendesk, Sunshine Conversations, Crisp,
//! LiveChat and a company's own web-chat widget (Standard Webhooks) at `/<provider>`.

use gateway_shared::providers::{
    crisp::Crisp, intercom::Intercom, livechat::LiveChat, slack::Slack, sunshine::Sunshine,
    webchat::WebChat, zendesk::Zendesk,
};
use gateway_shared::schema::Channel;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    gateway_shared::lambda::run(
        Channel::Chat,
        vec![
            Box::new(Slack),
            Box::new(Intercom),
            Box::new(Zendesk),
            Box::new(Sunshine),
            Box::new(Crisp),
            Box::new(LiveChat),
            Box::new(WebChat),
        ],
    )
    .await
}
