//! GraphQL over WebSocket: graphql-transport-ws (the `graphql-ws` npm library's protocol) and the
//! older subscriptions-transport-ws (subprotocol `graphql-ws`).
//!
//! The protocol is handled here rather than by async-graphql's `WebSocket`, which closes every
//! refused `connection_init` with 1002 and a subscribe-before-init with 1011, and only looks at
//! credentials once. Here:
//!
//! - the credential (the `connection_init` payload's `authorization`/`Authorization`/`apiKey`, or
//!   the upgrade request's headers) is checked at `connection_init` and again for every operation;
//! - an open socket whose API key is revoked closes within `credential_recheck`, one whose JWT
//!   expires closes at its `exp`;
//! - every operation is rate-limited like an HTTP request and runs through `prepare`
//!   (introspection policy, caller, loaders) and the schema's `WriteGuard`.
//!
//! Close codes (graphql-transport-ws): 4400 bad message, 4401 no credential in `--auth required`
//! mode or subscribe before `connection_ack`, 4403 credential refused (bad, revoked, expired),
//! 4408 no `connection_init` in time, 4409 duplicate operation id, 4429 second `connection_init`,
//! 1011 internal error. The close reason is `<extensions.code>: <message>`, the same code HTTP
//! gives (`UNAUTHENTICATED: the API key was revoked`). subscriptions-transport-ws clients also
//! get a `connection_error` message whose payload is `{message, extensions: {code}}`.

use super::operation::{
    credential_lapsed, finish_response, prepare, rate_limit, rate_limited_message,
};
use super::{request_error, HttpState, MAX_BODY_BYTES};
use crate::auth::{authenticate, credential, AuthError, Viewer};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// graphql-transport-ws.
    Transport,
    /// subscriptions-transport-ws, offered as `graphql-ws`.
    Legacy,
}

impl Protocol {
    /// The first subprotocol the client offers that is spoken here.
    fn offered(headers: &HeaderMap) -> Option<Protocol> {
        let offered = headers
            .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim);
        offered.into_iter().find_map(|p| match p {
            "graphql-transport-ws" => Some(Protocol::Transport),
            "graphql-ws" => Some(Protocol::Legacy),
            _ => None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Protocol::Transport => "graphql-transport-ws",
            Protocol::Legacy => "graphql-ws",
        }
    }
}

pub(super) async fn graphql_ws(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(protocol) = Protocol::offered(&headers) else {
        return request_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", "offer the graphql-transport-ws subprotocol (Sec-WebSocket-Protocol: graphql-transport-ws)".into());
    };
    let header_credential = credential(&headers);
    // A message is one operation: it gets the size limit of an HTTP request body.
    let upgrade = upgrade
        .max_message_size(MAX_BODY_BYTES)
        .max_frame_size(MAX_BODY_BYTES);
    upgrade
        .protocols([protocol.name()])
        .on_upgrade(move |socket| async move {
            state.metrics.subscriptions.fetch_add(1, Ordering::Relaxed);
            let metrics = state.metrics.clone();
            Connection::new(state, protocol, peer, header_credential)
                .run(socket)
                .await;
            metrics.subscriptions.fetch_sub(1, Ordering::Relaxed);
        })
}

/// Why the server ends the connection.
struct Close {
    code: u16,
    /// `<extensions.code>: <message>` for errors clients act on.
    reason: String,
    /// For subscriptions-transport-ws, which has a message for it: `{message, extensions: {code}}`.
    error: Option<Value>,
}

impl Close {
    fn protocol(code: u16, reason: &str) -> Close {
        Close {
            code,
            reason: reason.to_string(),
            error: None,
        }
    }

    /// A credential that was missing (4401), refused (4403), or could not be checked (1011).
    fn credential(e: &AuthError, presented: bool) -> Close {
        e.log();
        let code = match e {
            AuthError::Unauthenticated(_) if presented => 4403,
            AuthError::Unauthenticated(_) => 4401,
            AuthError::Store(_) | AuthError::CorruptKey { .. } => 1011,
        };
        let message = e.to_string();
        Close {
            code,
            reason: format!("{}: {message}", e.code()),
            error: Some(json!({ "message": message, "extensions": { "code": e.code() } })),
        }
    }
}

/// What operation tasks hand to the connection, tagged with the operation's generation so a
/// result of an operation the client completed is never sent under a reused id.
enum Outgoing {
    Result {
        id: String,
        generation: u64,
        payload: Value,
    },
    Done {
        id: String,
        generation: u64,
    },
}

/// What the connection loop woke up for.
enum Event {
    Client(Option<Result<Message, axum::Error>>),
    Operation(Outgoing),
    InitTimeout,
    CredentialLapsed(AuthError),
}

/// The caller, from `connection_init`: the credential, re-checked for every operation.
struct Session {
    token: Option<String>,
}

struct Connection {
    state: HttpState,
    protocol: Protocol,
    peer: SocketAddr,
    header_credential: Option<String>,
    session: Option<Session>,
    lapsed: Option<BoxFuture<'static, AuthError>>,
    operations: HashMap<String, (u64, AbortHandle)>,
    generation: u64,
    tx: mpsc::Sender<Outgoing>,
    rx: mpsc::Receiver<Outgoing>,
}

impl Connection {
    fn new(
        state: HttpState,
        protocol: Protocol,
        peer: SocketAddr,
        header_credential: Option<String>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(64);
        Connection {
            state,
            protocol,
            peer,
            header_credential,
            session: None,
            lapsed: None,
            operations: HashMap::new(),
            generation: 0,
            tx,
            rx,
        }
    }

    async fn run(mut self, mut socket: WebSocket) {
        let init_timeout = tokio::time::sleep(self.state.ws_init_timeout);
        tokio::pin!(init_timeout);
        let close = loop {
            let waiting_for_init = self.session.is_none();
            let (rx, lapsed) = (&mut self.rx, &mut self.lapsed);
            let event = tokio::select! {
                m = socket.recv() => Event::Client(m),
                Some(out) = rx.recv() => Event::Operation(out),
                () = &mut init_timeout, if waiting_for_init => Event::InitTimeout,
                e = async { match lapsed.as_mut() { Some(f) => f.await, None => std::future::pending().await } } => Event::CredentialLapsed(e),
            };
            let outcome = match event {
                Event::Client(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => break None,
                Event::Client(Some(Ok(Message::Text(t)))) => self.on_message(t.as_str()).await,
                Event::Client(Some(Ok(Message::Binary(b)))) => match std::str::from_utf8(&b) {
                    Ok(t) => self.on_message(t).await,
                    Err(_) => Err(Close::protocol(4400, "messages are JSON text")),
                },
                Event::Client(Some(Ok(_))) => Ok(Vec::new()),
                Event::Operation(out) => Ok(self.deliver(out).into_iter().collect()),
                Event::InitTimeout => {
                    Err(Close::protocol(4408, "Connection initialisation timeout"))
                }
                Event::CredentialLapsed(e) => Err(Close::credential(&e, true)),
            };
            match outcome {
                Ok(replies) => {
                    for r in replies {
                        if socket.send(Message::text(r.to_string())).await.is_err() {
                            break;
                        }
                    }
                }
                Err(close) => break Some(close),
            }
        };
        for (_, (_, task)) in self.operations.drain() {
            task.abort();
        }
        if let Some(close) = close {
            if let (Protocol::Legacy, Some(error)) = (self.protocol, &close.error) {
                let _ = socket
                    .send(Message::text(
                        json!({ "type": "connection_error", "payload": error }).to_string(),
                    ))
                    .await;
            }
            let frame = CloseFrame {
                code: close.code,
                reason: truncate(&close.reason, 123).into(),
            };
            let _ = socket.send(Message::Close(Some(frame))).await;
        }
    }

    /// Handles one client message: the replies to send, or why to close.
    async fn on_message(&mut self, text: &str) -> Result<Vec<Value>, Close> {
        let invalid = || Close::protocol(4400, "Invalid message received");
        let msg: Value = serde_json::from_str(text).map_err(|_| invalid())?;
        let kind = msg
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(invalid)?;
        match (self.protocol, kind) {
            (_, "connection_init") => self.init(msg.get("payload")).await,
            (Protocol::Transport, "ping") => Ok(vec![json!({ "type": "pong" })]),
            (Protocol::Transport, "pong") => Ok(Vec::new()),
            (Protocol::Transport, "subscribe") | (Protocol::Legacy, "start") => {
                let id = msg
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|id| !id.is_empty())
                    .ok_or_else(invalid)?
                    .to_string();
                let request: async_graphql::Request = msg
                    .get("payload")
                    .cloned()
                    .and_then(|p| serde_json::from_value(p).ok())
                    .ok_or_else(invalid)?;
                self.subscribe(id, request).await
            }
            (Protocol::Transport, "complete") | (Protocol::Legacy, "stop") => {
                let id = msg.get("id").and_then(Value::as_str).ok_or_else(invalid)?;
                let known = self
                    .operations
                    .remove(id)
                    .map(|(_, task)| task.abort())
                    .is_some();
                // subscriptions-transport-ws acknowledges a stop; graphql-transport-ws does not.
                Ok(if known && self.protocol == Protocol::Legacy {
                    vec![json!({ "id": id, "type": "complete" })]
                } else {
                    Vec::new()
                })
            }
            (Protocol::Legacy, "connection_terminate") => Err(Close::protocol(1000, "")),
            _ => Err(invalid()),
        }
    }

    async fn init(&mut self, payload: Option<&Value>) -> Result<Vec<Value>, Close> {
        if self.session.is_some() {
            return Err(Close::protocol(4429, "Too many initialisation requests"));
        }
        let from_payload = payload.and_then(|p| {
            ["authorization", "Authorization", "apiKey"]
                .iter()
                .find_map(|k| p.get(*k).and_then(Value::as_str))
        });
        let token = from_payload
            .map(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
                    .unwrap_or(v)
                    .trim()
                    .to_string()
            })
            .or_else(|| self.header_credential.clone())
            .filter(|t| !t.is_empty());
        let viewer = authenticate(
            &self.state.app.store,
            self.state.auth,
            &self.state.jwt,
            token.clone(),
        )
        .await
        .map_err(|e| Close::credential(&e, token.is_some()))?;
        self.lapsed = Some(credential_lapsed(self.state.clone(), token.clone(), viewer));
        self.session = Some(Session { token });
        Ok(vec![json!({ "type": "connection_ack" })])
    }

    async fn subscribe(
        &mut self,
        id: String,
        request: async_graphql::Request,
    ) -> Result<Vec<Value>, Close> {
        let Some(session) = &self.session else {
            return Err(Close {
                code: 4401,
                reason: "Unauthorized".into(),
                error: Some(
                    json!({ "message": "send connection_init first", "extensions": { "code": "UNAUTHENTICATED" } }),
                ),
            });
        };
        if self.operations.contains_key(&id) {
            return Err(Close::protocol(
                4409,
                &format!("Subscriber for {id} already exists"),
            ));
        }
        // The credential may have been revoked or expired since connection_init.
        let token = session.token.clone();
        let viewer: Viewer = authenticate(
            &self.state.app.store,
            self.state.auth,
            &self.state.jwt,
            token.clone(),
        )
        .await
        .map_err(|e| Close::credential(&e, token.is_some()))?;
        if let Err(wait) = rate_limit(&self.state, &viewer, Some(self.peer), 1) {
            let error = json!({ "message": rate_limited_message(wait), "extensions": { "code": "RATE_LIMITED", "retryAfterSeconds": wait } });
            return Ok(vec![
                self.result_message(&id, json!({ "data": null, "errors": [error] })),
                json!({ "id": id, "type": "complete" }),
            ]);
        }
        self.generation += 1;
        let generation = self.generation;
        let mut results = self
            .state
            .schema
            .execute_stream(prepare(&self.state, &viewer, request));
        let (tx, state, task_id) = (self.tx.clone(), self.state.clone(), id.clone());
        let task = tokio::spawn(async move {
            while let Some(mut response) = results.next().await {
                finish_response(&state, &mut response);
                let payload = serde_json::to_value(&response).unwrap_or(Value::Null);
                if tx
                    .send(Outgoing::Result {
                        id: task_id.clone(),
                        generation,
                        payload,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            let _ = tx
                .send(Outgoing::Done {
                    id: task_id,
                    generation,
                })
                .await;
        });
        self.operations
            .insert(id, (generation, task.abort_handle()));
        Ok(Vec::new())
    }

    /// An operation's result or end, unless the client completed that operation meanwhile.
    fn deliver(&mut self, out: Outgoing) -> Option<Value> {
        let current = |ops: &HashMap<String, (u64, AbortHandle)>, id: &str, generation: u64| {
            ops.get(id).is_some_and(|(g, _)| *g == generation)
        };
        match out {
            Outgoing::Result {
                id,
                generation,
                payload,
            } if current(&self.operations, &id, generation) => {
                Some(self.result_message(&id, payload))
            }
            Outgoing::Done { id, generation } if current(&self.operations, &id, generation) => {
                self.operations.remove(&id);
                Some(json!({ "id": id, "type": "complete" }))
            }
            _ => None,
        }
    }

    fn result_message(&self, id: &str, payload: Value) -> Value {
        let kind = match self.protocol {
            Protocol::Transport => "next",
            Protocol::Legacy => "data",
        };
        json!({ "id": id, "type": kind, "payload": payload })
    }
}

/// A close reason fits in 123 bytes (RFC 6455 §5.5); cut at a character boundary.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}
