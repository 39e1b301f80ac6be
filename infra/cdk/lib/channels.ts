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
  /** HTTP methods its providers use. */
  readonly methods: string[];
  /** Channel-specific settings: a stack parameter each, passed as an environment variable. */
  readonly settings?: { parameter: string; env: string; default: string; description: string }[];
}

export const CHANNELS: Channel[] = [
  {
    name: 'sms',
    id: 'Sms',
    description: 'SMS webhooks (Twilio, Vonage, Telnyx, Plivo).',
    providers: ['twilio', 'vonage', 'telnyx', 'plivo'],
    methods: ['POST', 'GET'],
  },
  {
    name: 'social',
    id: 'Social',
    description: 'social webhooks (Meta, X, LINE, Viber, Telegram).',
    providers: ['meta', 'x', 'line', 'viber', 'telegram'],
    methods: ['POST', 'GET'],
  },
  {
    name: 'chat',
    id: 'Chat',
    description: 'chat webhooks (Slack, Intercom, Zendesk, Sunshine Conversations, Crisp, LiveChat, web chat).',
    providers: ['slack', 'intercom', 'zendesk', 'sunshine', 'crisp', 'livechat', 'webchat'],
    methods: ['POST', 'GET'],
  },
  {
    name: 'voice',
    id: 'Voice',
    description: 'voice transcript webhooks (Twilio, Deepgram, Retell, Vapi, AssemblyAI).',
    providers: ['twilio', 'deepgram', 'retell', 'vapi', 'assemblyai'],
    // Deepgram can call back with PUT (callback_method=put).
    methods: ['POST', 'PUT'],
    settings: [{
      parameter: 'AssemblyAiApiBaseUrl',
      env: 'ASSEMBLYAI_API_BASE_URL',
      default: 'https://api.assemblyai.com',
      description: 'Where finished AssemblyAI transcripts are fetched (https://api.eu.assemblyai.com for EU jobs).',
    }],
  },
  {
    name: 'email',
    id: 'Email',
    description: 'e-mail webhooks (Mailgun, SendGrid Inbound Parse, Postmark, Amazon SES through SNS).',
    providers: ['mailgun', 'sendgrid', 'postmark', 'ses'],
    methods: ['POST'],
  },
];
