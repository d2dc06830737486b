//! The admin port (spec 5.2): Redis protocol, one thread per connection, idle connections
//! closed after [`IDLE_TIMEOUT`].
//!
//! ```text
//! PING                        -> +PONG   (the original refuses it; health checks want it)
//! CONFIG GET brokers          -> $<comma-joined broker list>
//! CONFIG GET reporter_id      -> $<reporter id>
//! CONFIG SET brokers a,b      -> +OK
//! anything else               -> the original's exact error strings
//! ```

use super::config::split_brokers;
use super::Ctx;
use crate::client::resp::{self, Value};
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Idle connection lifetime. why: the original's value; an operator's redis-cli may sit idle.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Accepts admin connections forever.
pub fn serve(ctx: &Ctx, listener: TcpListener) {
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                let ctx = ctx.clone();
                let spawned = std::thread::Builder::new()
                    .name("coord-admin".into())
                    .spawn(move || session(&ctx, s));
                if let Err(e) = spawned {
                    log::warn!("admin: cannot start a session thread: {e}");
                }
            }
            Err(e) => {
                log::warn!("admin: accept failed: {e}");
                // why: EMFILE and friends pass; spinning on them would burn a core.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn session(ctx: &Ctx, stream: TcpStream) {
    if stream.set_read_timeout(Some(IDLE_TIMEOUT)).is_err() {
        return;
    }
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Ok(request) = resp::read_value(&mut reader) {
        let args: Vec<String> = match request {
            Value::Array(items) => items.iter().map(Value::text).collect(),
            // why: health checkers and `nc` send inline commands.
            Value::Simple(line) => line.split_whitespace().map(str::to_string).collect(),
            _ => return,
        };
        if args.is_empty() {
            continue;
        }
        if writer.write_all(&answer(ctx, &args)).is_err() {
            return;
        }
    }
}

/// The reply to one command, encoded.
fn answer(ctx: &Ctx, args: &[String]) -> Vec<u8> {
    let arg = |i: usize| args.get(i).map(String::as_str);
    let name = arg(0).unwrap_or_default().to_ascii_uppercase();
    match name.as_str() {
        "PING" => b"+PONG\r\n".to_vec(),
        "CONFIG" => {
            let Some(sub) = arg(1) else {
                return error("Missing sub argument");
            };
            let Some(field) = arg(2) else {
                return error("Missing sub argument");
            };
            match (sub.to_ascii_uppercase().as_str(), field) {
                ("GET", "brokers") => bulk(&ctx.brokers.list().join(",")),
                ("GET", "reporter_id") => bulk(&ctx.config.reporter_id),
                ("GET", f) => error(&format!("Invalid CONFIG field {f}")),
                ("SET", "brokers") => match arg(3) {
                    Some(v) => {
                        let list = split_brokers(v);
                        log::info!("admin: brokers set to {list:?}");
                        ctx.brokers.set_list(list);
                        b"+OK\r\n".to_vec()
                    }
                    None => error("Missing sub argument"),
                },
                ("SET", f) => error(&format!("Invalid CONFIG SET field {f}")),
                _ => error(&format!("Invalid config sub command: {sub}")),
            }
        }
        "UMCTL" => error("Invalid sub command for UMCTL"),
        _ => error(&format!(
            "ERR_COMMAND_NOT_SUPPORTED: {}",
            arg(0).unwrap_or_default()
        )),
    }
}

fn bulk(s: &str) -> Vec<u8> {
    let mut out = format!("${}\r\n", s.len()).into_bytes();
    out.extend_from_slice(s.as_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

fn error(msg: &str) -> Vec<u8> {
    format!("-{}\r\n", msg.replace(['\r', '\n'], " ")).into_bytes()
}
