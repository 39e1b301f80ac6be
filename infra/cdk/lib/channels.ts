// The channels the gateway deploys. A new channel is one entry here (and one block in
// infra/template.yaml, which the consistency test keeps in step).
export interface Channel {
  /** Path segment, binary name and resource prefix: `sms` serves /sms/{provider}. */
  readonly name: string;
  /** Prefix of its CloudFormation parameters and logical ids: `Sms`. */
  readonly id: string;
  readonly description: string;
  /** Providers served at /<name>/<provider>: each gets a webhook URL output. */
  readonly providers: string[];
}

export const CHANNELS: Channel[] = [
  {
    name: 'sms',
    id: 'Sms',
    description: 'SMS webhooks (Twilio, Vonage, Telnyx, Plivo).',
    providers: ['twilio', 'vonage', 'telnyx', 'plivo'],
  },
  {
    name: 'social',
    id: 'Social',
    description: 'social webhooks (Meta, X, LINE, Viber, Telegram).',
    providers: ['meta', 'x', 'line', 'viber', 'telegram'],
  },
  {
    name: 'chat',
    id: 'Chat',
    description: 'chat webhooks (Slack, Intercom, Zendesk, Sunshine Conversations, Crisp, LiveChat, web chat).',
    providers: ['slack', 'intercom', 'zendesk', 'sunshine', 'crisp', 'livechat', 'webchat'],
  },
];
