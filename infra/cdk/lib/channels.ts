// Generated from the channel registry (shared/src/channels.rs) by `gateway-local infra`
// (make generate); CI fails when it is stale. Do not edit.
export interface Channel {
  /** Path segment and resource prefix: the function serves /<name>/<provider>. */
  readonly name: string;
  /** Prefix of its CloudFormation parameters and logical ids (the name capitalised). */
  readonly id: string;
  /** Its name in sentences (alarm descriptions, dashboards). */
  readonly title: string;
  readonly description: string;
  /** Providers served at /<name>/<provider>: each gets a webhook URL output. */
  readonly providers: string[];
  /** HTTP methods its providers use. */
  readonly methods: string[];
  /** Channel-specific settings: a stack parameter each, passed as an environment variable. */
  readonly settings: { parameter: string; env: string; default: string; description: string }[];
  /** What its function may do: actions on the table, the outbox, the parts table, its secret, the objects under its prefix,
   * the objects of its intake (`<name>/intake/*`), or the bucket for listing its intake only. */
  readonly grants: { resource: 'table' | 'outbox' | 'parts' | 'secret' | 'objects' | 'intake' | 'listing'; actions: string[] }[];
}

export const CHANNELS: Channel[] = [
  {
    "description": "SMS webhooks (Twilio, Vonage, Telnyx, Plivo).",
    "grants": [
      {
        "actions": [
          "dynamodb:PutItem"
        ],
        "resource": "table"
      },
      {
        "actions": [
          "dynamodb:PutItem"
        ],
        "resource": "outbox"
      },
      {
        "actions": [
          "secretsmanager:GetSecretValue"
        ],
        "resource": "secret"
      },
      {
        "actions": [
          "s3:PutObject"
        ],
        "resource": "objects"
      },
      {
        "actions": [
          "s3:DeleteObject",
          "s3:GetObject"
        ],
        "resource": "intake"
      },
      {
        "actions": [
          "s3:ListBucket"
        ],
        "resource": "listing"
      }
    ],
    "id": "Sms",
    "methods": [
      "POST",
      "GET"
    ],
    "name": "sms",
    "providers": [
      "twilio",
      "vonage",
      "telnyx",
      "plivo"
    ],
    "settings": [],
    "title": "SMS"
  },
  {
    "description": "Social webhooks (Meta, X, LINE, Viber, Telegram).",
    "grants": [
      {
        "actions": [
          "dynamodb:PutItem"
        ],
        "resource": "table"
      },
      {
        "actions": [
          "dynamodb:PutItem"
        ],
        "resource": "outbox"
      },
      {
        "actions": [
          "secretsmanager:GetSecretValue"
        ],
        "resource": "secret"
      },
      {
        "actions": [
          "s3:PutObject"
        ],
        "resource": "objects"
      },
      {
        "actions": [
          "s3:DeleteObject",
          "s3:GetObject"
        ],
        "resource": "intake"
      },
      {
        "actions": [
          "s3:ListBucket"
        ],
        "resource": "listing"
      }
    ],
    "id": "Social",
    "methods": [
      "POST",
      "GET"
    ],
    "name": "social",
    "providers": [
      "meta",
      "x",
      "line",
      "viber",
      "telegram"
    ],
    "settings": [],
    "title": "social"
  },
  {
    "description": "Chat webhooks (Slack, Intercom, Zendesk, Sunshine Conversations, Crisp, LiveChat, web chat).",
    "grants": [
      {
        "actions": [
          "dynamodb:PutItem"
        ],
        "resource": "table"
      },
      {
        "actions": [
          "dynamodb:PutItem"
        ],
        "resource": "outbox"
      },
      {
        "actions": [
          "secretsmanager:GetSecretValue"
        ],
        "resource": "secret"
      },
      {
        "actions": [
          "s3:PutObject"
        ],
        "resource": "objects"
      },
      {
        "actions": [
          "s3:DeleteObject",
          "s3:GetObject"
        ],
        "resource": "intake"
      },
      {
        "actions": [
          "s3:ListBucket"
        ],
        "resource": "listing"
      }
    ],
    "id": "Chat",
    "methods": [
      "POST",
      "HEAD"
    ],
    "name": "chat",
    "providers": [
      "slack",
      "intercom",
      "zendesk",
      "sunshine",
      "crisp",
      "livechat",
      "webchat"
    ],
    "settings": [],
    "title": "chat"
  },
  {
    "description": "Voice transcript webhooks (Twilio, Deepgram, Retell, Vapi, AssemblyAI).",
    "grants": [
      {
        "actions": [
          "dynamodb:PutItem"
        ],
        "resource": "table"
      },
      {
        "actions": [
          "dynamodb:PutItem"
        ],
        "resource": "outbox"
      },
      {
        "actions": [
          "secretsmanager:GetSecretValue"
        ],
        "resource": "secret"
      },
      {
        "actions": [
          "dynamodb:DeleteItem",
          "dynamodb:PutItem",
          "dynamodb:Query"
        ],
        "resource": "parts"
      },
      {
        "actions": [
          "s3:PutObject"
        ],
        "resource": "objects"
      },
      {
        "actions": [
          "s3:DeleteObject",
          "s3:GetObject"
        ],
        "resource": "intake"
      },
      {
        "actions": [
          "s3:ListBucket"
        ],
        "resource": "listing"
      }
    ],
    "id": "Voice",
    "methods": [
      "POST",
      "PUT"
    ],
    "name": "voice",
    "providers": [
      "twilio",
      "deepgram",
      "retell",
      "vapi",
      "assemblyai"
    ],
    "settings": [
      {
        "default": "https://api.assemblyai.com",
        "description": "Where finished AssemblyAI transcripts are fetched (https://api.eu.assemblyai.com for EU jobs).",
        "env": "ASSEMBLYAI_API_BASE_URL",
        "parameter": "AssemblyAiApiBaseUrl"
      },
      {
        "default": "60",
        "description": "Seconds a Twilio real-time transcript waits after its stop event for utterances delivered late (0 to 3600; 0 assembles at the stop event).",
        "env": "TRANSCRIPT_GRACE_SECS",
        "parameter": "TranscriptGraceSeconds"
      }
    ],
    "title": "voice"
  },
  {
    "description": "E-mail webhooks (Mailgun, SendGrid Inbound Parse, Postmark, Amazon SES through SNS).",
    "grants": [
      {
        "actions": [
          "dynamodb:PutItem"
        ],
        "resource": "table"
      },
      {
        "actions": [
          "dynamodb:PutItem"
        ],
        "resource": "outbox"
      },
      {
        "actions": [
          "secretsmanager:GetSecretValue"
        ],
        "resource": "secret"
      },
      {
        "actions": [
          "s3:PutObject"
        ],
        "resource": "objects"
      },
      {
        "actions": [
          "s3:DeleteObject",
          "s3:GetObject"
        ],
        "resource": "intake"
      },
      {
        "actions": [
          "s3:ListBucket"
        ],
        "resource": "listing"
      }
    ],
    "id": "Email",
    "methods": [
      "POST"
    ],
    "name": "email",
    "providers": [
      "mailgun",
      "sendgrid",
      "postmark",
      "ses"
    ],
    "settings": [],
    "title": "e-mail"
  }
];
