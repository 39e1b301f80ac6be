//! The infrastructure derived from the registry: the SAM template (`infra/template.yaml`, from
//! `infra/sam/*.yaml.in`) and the CDK app's channel file (`infra/cdk/lib/channels.ts`). Both
//! list the channels, their routes, settings, outputs and each function's permissions exactly
//! as `shared/src/channels.rs` has them; `gateway-local infra --check` fails when a committed
//! file differs from what this makes.

use gateway_shared::channels::{CHANNELS, ChannelSpec, Grant, Keeps};
use std::path::Path;

/// Every generated file: its path under the repository root, and its content.
pub fn generated(root: &Path) -> Vec<(String, String)> {
    vec![
        ("infra/template.yaml".into(), sam_template(root)),
        ("infra/cdk/lib/channels.ts".into(), cdk_channels()),
    ]
}

fn endpoints() -> gateway_shared::channels::Endpoints {
    crate::endpoints("https://unused.invalid")
}

fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = template.to_string();
    for (key, value) in values {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    assert!(
        !out.contains("{{"),
        "a placeholder is left unfilled: {}",
        &out[out.find("{{").unwrap()..][..40.min(out.len() - out.find("{{").unwrap())]
    );
    out
}

fn capitalised(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The grants of a channel grouped by resource, in a fixed order.
fn grant_groups(spec: &ChannelSpec) -> Vec<(&'static str, Vec<&'static str>)> {
    let mut groups: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for grant in spec.grants() {
        let (resource, action) = match grant {
            Grant::Table(a) => ("table", a),
            Grant::Outbox(a) => ("outbox", a),
            Grant::Parts(a) => ("parts", a),
            Grant::Secret(a) => ("secret", a),
            Grant::Objects(a) => ("objects", a),
            Grant::Intake(a) => ("intake", a),
            Grant::IntakeListing(a) => ("listing", a),
        };
        match groups.iter_mut().find(|(r, _)| *r == resource) {
            Some((_, actions)) => actions.push(action),
            None => groups.push((resource, vec![action])),
        }
    }
    groups
}

fn sam_template(root: &Path) -> String {
    let read = |name: &str| {
        std::fs::read_to_string(root.join("infra/sam").join(name))
            .unwrap_or_else(|e| panic!("infra/sam/{name}: {e}"))
    };
    let (template, channel_block) = (read("template.yaml.in"), read("channel.yaml.in"));
    let mut parameters = String::new();
    let mut resources = String::new();
    let mut outputs = String::new();
    let mut redrive_variables = String::new();
    let mut redrive_arns = String::new();
    for spec in CHANNELS {
        let (name, id, title) = (spec.name(), spec.id, spec.title);
        parameters += &format!(
            "  # --- {name} channel ---\n  {id}MemorySize:\n    Type: Number\n    Default: 256\n  {id}Timeout:\n    Type: Number\n    Default: 10\n  {id}ReservedConcurrency:\n    Type: Number\n    Default: 50\n    Description: Most concurrent {title} invocations; also isolates the other channels from {title} load.\n"
        );
        for setting in spec.settings {
            parameters += &format!(
                "  {}:\n    Type: String\n    Default: {}\n    Description: {}\n",
                setting.parameter, setting.default, setting.description
            );
        }
        let mut settings_variables: String = spec
            .settings
            .iter()
            .map(|s| format!("          {}: !Ref {}\n", s.env, s.parameter))
            .collect();
        if spec.keeps(Keeps::Parts) {
            settings_variables += "          PARTS_TABLE_NAME: !Ref PartsTable\n";
        }
        let policy_statements: String = grant_groups(spec)
            .into_iter()
            .map(|(resource, actions)| {
                let resource = match resource {
                    "table" => "!GetAtt MessagesTable.Arn".to_string(),
                    "outbox" => "!GetAtt OutboxTable.Arn".to_string(),
                    "parts" => "!GetAtt PartsTable.Arn".to_string(),
                    "secret" => format!("!Ref {id}Secret"),
                    "intake" => format!("!Sub \"${{BlobsBucket.Arn}}/{name}/intake/*\""),
                    "listing" => format!(
                        "!GetAtt BlobsBucket.Arn\n              Condition:\n                StringLike:\n                  s3:prefix: [\"{name}/intake/*\"]"
                    ),
                    _ => format!("!Sub \"${{BlobsBucket.Arn}}/{name}/*\""),
                };
                format!(
                    "            - Effect: Allow\n              Action: [{}]\n              Resource: {resource}\n",
                    actions.join(", ")
                )
            })
            .collect();
        let events = spec
            .methods(&endpoints())
            .iter()
            .map(|method| {
                format!(
                    "        {}:\n          Type: HttpApi\n          Properties:\n            ApiId: !Ref HttpApi\n            Path: /{name}/{{provider}}\n            Method: {method}\n            PayloadFormatVersion: \"2.0\"",
                    capitalised(&method.as_str().to_ascii_lowercase())
                )
            })
            .chain(std::iter::once(
                // The scheduled run: the replay of the requests kept while the store was down.
                "        Schedule:\n          Type: Schedule\n          Properties:\n            Schedule: rate(1 minute)\n            Input: '{\"run\": \"schedule\"}'".to_string(),
            ))
            .collect::<Vec<_>>()
            .join("\n");
        let secret_example = match spec.providers {
            [first, second, ..] => {
                format!("{{\"{}\": [...], \"{}\": ...}}", first.name, second.name)
            }
            [only] => format!("{{\"{}\": [...]}}", only.name),
            [] => "{}".into(),
        };
        resources += &format!(
            "  # ---------------------------------------------------------------- {name} channel\n"
        );
        resources += &fill(
            &channel_block,
            &[
                ("Id", id.to_string()),
                ("name", name.to_string()),
                ("title", title.to_string()),
                ("description", spec.description.to_string()),
                ("secret_example", secret_example),
                ("settings_variables", settings_variables),
                ("policy_statements", policy_statements),
                ("events", events),
            ],
        );
        resources += "\n";
        for provider in spec.providers {
            let p = provider.name;
            outputs += &format!(
                "  {id}{}WebhookUrl:\n    Value: !If [HasPublicBaseUrl, !Sub \"${{PublicBaseUrl}}/{name}/{p}\", !Sub \"https://${{HttpApi}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{name}/{p}\"]\n",
                capitalised(p)
            );
        }
        outputs += &format!(
            "  {id}QueueUrl:\n    Value: !Ref {id}Queue\n  {id}QueueArn:\n    Value: !GetAtt {id}Queue.Arn\n  {id}DeadLetterQueueUrl:\n    Value: !Ref {id}DeadLetterQueue\n  {id}SecretArn:\n    Description: Fill with `aws secretsmanager put-secret-value --secret-id <arn> --secret-string file://{name}-secret.json`.\n    Value: !Ref {id}Secret\n"
        );
        redrive_variables += &format!(
            "          QUEUE_URL_{}: !Ref {id}Queue\n",
            name.to_ascii_uppercase()
        );
        redrive_arns += &format!("                - !GetAtt {id}Queue.Arn\n");
    }
    fill(
        &template,
        &[
            ("channel_parameters", parameters.trim_end().to_string()),
            ("queue_variables", redrive_variables.trim_end().to_string()),
            ("queue_arns", redrive_arns.trim_end().to_string()),
            ("channel_resources", resources.trim_end().to_string()),
            ("channel_outputs", outputs.trim_end().to_string()),
        ],
    )
}

fn cdk_channels() -> String {
    let channels: Vec<serde_json::Value> = CHANNELS
        .iter()
        .map(|spec| {
            serde_json::json!({
                "name": spec.name(),
                "id": spec.id,
                "title": spec.title,
                "description": spec.description,
                "providers": spec.providers.iter().map(|p| p.name).collect::<Vec<_>>(),
                "methods": spec.methods(&endpoints()).iter().map(|m| m.as_str()).collect::<Vec<_>>(),
                "settings": spec.settings.iter().map(|s| serde_json::json!({
                    "parameter": s.parameter, "env": s.env, "default": s.default, "description": s.description,
                })).collect::<Vec<_>>(),
                "grants": grant_groups(spec).into_iter().map(|(resource, actions)| serde_json::json!({
                    "resource": resource, "actions": actions,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    format!(
        r#"// Generated from the channel registry (shared/src/channels.rs) by `gateway-local infra`
// (make generate); CI fails when it is stale. Do not edit.
export interface Channel {{
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
  readonly settings: {{ parameter: string; env: string; default: string; description: string }}[];
  /** What its function may do: actions on the table, the outbox, the parts table, its secret, the objects under its prefix,
   * the objects of its intake (`<name>/intake/*`), or the bucket for listing its intake only. */
  readonly grants: {{ resource: 'table' | 'outbox' | 'parts' | 'secret' | 'objects' | 'intake' | 'listing'; actions: string[] }}[];
}}

export const CHANNELS: Channel[] = {};
"#,
        serde_json::to_string_pretty(&channels).expect("JSON")
    )
}

/// Writes the generated files, or with `check` compares them; the stale files' paths.
pub fn write(root: &Path, check: bool) -> Vec<String> {
    let mut stale = Vec::new();
    for (path, content) in generated(root) {
        let target = root.join(&path);
        if std::fs::read_to_string(&target).ok().as_deref() != Some(content.as_str()) {
            stale.push(path.clone());
            if !check {
                std::fs::write(&target, content).expect("the generated file is written");
            }
        }
    }
    stale
}
