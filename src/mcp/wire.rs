//! Standard input and output for the MCP server, with the answers rmcp
//! leaves out. rmcp drops a line that is not JSON and a line over its
//! size limit without a word, so a client that sent one waits forever.
//! Here every line is looked at first: one that is not JSON is answered
//! with JSON-RPC's parse error (-32700), an oversized one with an invalid
//! request error (-32600), and the server goes on serving. Everything else
//! passes to rmcp unchanged. One task owns standard output, so an answer
//! from here and one from rmcp never interleave within a line.

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader, DuplexStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The largest request line accepted, as rmcp's own limit.
pub const MAX_LINE: usize = 16 * 1024 * 1024;
const PIPE: usize = 64 * 1024;

/// The transport to hand rmcp, and the task that writes standard output
/// (await it after the server stops, so nothing is lost).
pub fn guarded_stdio() -> ((DuplexStream, DuplexStream), JoinHandle<()>) {
    let (to_server, from_filter) = tokio::io::duplex(PIPE);
    let (to_client, from_server) = tokio::io::duplex(PIPE);
    let (lines, mut outbox) = mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(filter(tokio::io::stdin(), to_server, lines.clone()));
    tokio::spawn(forward(from_server, lines));
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = outbox.recv().await {
            if stdout.write_all(&line).await.is_err() || stdout.flush().await.is_err() {
                break;
            }
        }
    });
    ((from_filter, to_client), writer)
}

/// An error response with no id: the request it answers could not be read.
fn error_line(code: i64, message: &str) -> Vec<u8> {
    let mut line = json!({
        "jsonrpc": "2.0",
        "id": Value::Null,
        "error": {"code": code, "message": message},
    })
    .to_string()
    .into_bytes();
    line.push(b'\n');
    line
}

/// A `tools/call` without params, without a tool name, or whose
/// `arguments` is not an object: rmcp cannot decode it and would answer
/// "method not found" (-32601); JSON-RPC calls it invalid params (-32602).
fn misshapen_call(message: &Value) -> Option<Vec<u8>> {
    if message["method"] != "tools/call" {
        return None;
    }
    let params = &message["params"];
    let args = &params["arguments"];
    let problem = if !params.is_object() {
        "tools/call needs params: {\"name\": <a tool>, \"arguments\": {...}}"
    } else if !params["name"].is_string() {
        "tools/call: params.name must name a tool (tools/list lists them)"
    } else if !(args.is_null() || args.is_object()) {
        "tools/call: arguments must be a JSON object"
    } else {
        return None;
    };
    let mut line = json!({
        "jsonrpc": "2.0",
        "id": message["id"],
        "error": {"code": -32602, "message": problem},
    })
    .to_string()
    .into_bytes();
    line.push(b'\n');
    Some(line)
}

/// What one line read from the client turned out to be.
enum Read {
    Line(Vec<u8>),
    TooLong,
    End,
}

/// Reads one line, never holding more than `MAX_LINE` bytes of it.
async fn read_line<R: AsyncRead + Unpin>(input: &mut BufReader<R>) -> Read {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let available = match input.fill_buf().await {
            Ok(a) => a,
            Err(_) => return Read::End,
        };
        if available.is_empty() {
            // A last line without a newline still counts.
            return match (too_long, line.is_empty()) {
                (true, _) => Read::TooLong,
                (false, true) => Read::End,
                (false, false) => Read::Line(line),
            };
        }
        let newline = available.iter().position(|&b| b == b'\n');
        let take = newline.map_or(available.len(), |i| i + 1);
        if !too_long && line.len() + take > MAX_LINE {
            too_long = true;
            line = Vec::new();
        }
        if !too_long {
            line.extend_from_slice(&available[..take]);
        }
        input.consume(take);
        if newline.is_some() {
            return if too_long {
                Read::TooLong
            } else {
                Read::Line(line)
            };
        }
    }
}

async fn filter<R: AsyncRead + Unpin>(
    input: R,
    mut to_server: DuplexStream,
    answers: mpsc::UnboundedSender<Vec<u8>>,
) {
    let mut input = BufReader::new(input);
    loop {
        match read_line(&mut input).await {
            Read::End => break,
            Read::TooLong => {
                let message = format!(
                    "request line exceeds {} MiB; it was ignored",
                    MAX_LINE >> 20
                );
                let _ = answers.send(error_line(-32600, &message));
            }
            Read::Line(mut line) => {
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let message = match serde_json::from_slice::<Value>(text) {
                    Ok(m) => m,
                    Err(e) => {
                        let _ = answers.send(error_line(-32700, &format!("parse error: {e}")));
                        continue;
                    }
                };
                if let Some(answer) = misshapen_call(&message) {
                    let _ = answers.send(answer);
                    continue;
                }
                if !line.ends_with(b"\n") {
                    line.push(b'\n');
                }
                if to_server.write_all(&line).await.is_err() {
                    break;
                }
            }
        }
    }
    // Dropping `to_server` tells rmcp the client is gone.
}

/// Copies rmcp's answers, line by line, to the one writer of stdout.
async fn forward(from_server: DuplexStream, answers: mpsc::UnboundedSender<Vec<u8>>) {
    let mut from_server = BufReader::new(from_server);
    loop {
        let mut line = Vec::new();
        match from_server.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if answers.send(line).is_err() {
                    break;
                }
            }
        }
    }
}
