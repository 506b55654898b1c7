//! A TCP proxy on loopback that a test can kill, or arm to lose a reply, to make an endpoint die
//! mid-run or mid-statement.
//!
//! Client-to-server bytes are read as MySQL packets (3-byte length, sequence id, payload), so a
//! fault can be tied to one command: [`Proxy::lose_reply_to`] forwards the first packet whose
//! payload contains a pattern (a `COMMIT`, a marker value bound in an `INSERT`), lets the server
//! execute it, swallows the server's reply and closes the link. That is the exact situation of a
//! write whose outcome the client cannot know: it was applied, the client saw only a broken
//! connection.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// A reply to lose: the `skip`+1-th client packet containing `pattern`.
#[derive(Debug, Clone)]
struct LoseReply {
    pattern: Vec<u8>,
    skip: u32,
}

#[derive(Debug, Default)]
struct Faults {
    lose_reply: Option<LoseReply>,
    /// Replies lost so far.
    lost: u32,
}

/// Forwards connections from a local port to `upstream` until [`Proxy::kill`] or drop, which
/// closes the listener and every forwarded connection (like a server that crashed).
#[derive(Debug)]
pub struct Proxy {
    /// The proxy's listening address.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    faults: Arc<Mutex<Faults>>,
}

impl Proxy {
    /// Starts forwarding to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let faults = Arc::new(Mutex::new(Faults::default()));
        let shared = faults.clone();
        let task = tokio::spawn(async move {
            let mut links = JoinSet::new();
            while let Ok((inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let faults = shared.clone();
                links.spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(&upstream).await {
                        link(inbound, outbound, faults).await;
                    }
                });
            }
        });
        Ok(Proxy { addr, task, faults })
    }

    /// Arms the proxy: the `skip`+1-th client packet (on any link) whose payload contains
    /// `pattern` reaches the server, its reply does not reach the client, and that link is cut.
    /// Once only; arm again for another.
    pub fn lose_reply_to(&self, pattern: &[u8], skip: u32) {
        lock(&self.faults).lose_reply = Some(LoseReply {
            pattern: pattern.to_vec(),
            skip,
        });
    }

    /// How many replies were lost so far.
    pub fn replies_lost(&self) -> u32 {
        lock(&self.faults).lost
    }

    /// Stops accepting and cuts every open connection.
    pub fn kill(&self) {
        self.task.abort();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(faults: &Mutex<Faults>) -> std::sync::MutexGuard<'_, Faults> {
    faults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether this packet is the one whose reply is to be lost (counts down `skip`).
fn take_fault(faults: &Mutex<Faults>, payload: &[u8]) -> bool {
    let mut faults = lock(faults);
    let Some(rule) = faults.lose_reply.as_mut() else {
        return false;
    };
    if !payload
        .windows(rule.pattern.len().max(1))
        .any(|w| w == rule.pattern.as_slice())
    {
        return false;
    }
    if rule.skip > 0 {
        rule.skip -= 1;
        return false;
    }
    faults.lose_reply = None;
    faults.lost += 1;
    true
}

/// One client connection. Ends (closing both sockets) when either side closes or a reply is lost.
async fn link(inbound: TcpStream, outbound: TcpStream, faults: Arc<Mutex<Faults>>) {
    let (client_rx, client_tx) = inbound.into_split();
    let (server_rx, server_tx) = outbound.into_split();
    let (armed_tx, armed_rx) = tokio::sync::watch::channel(false);
    tokio::select! {
        _ = upstream(client_rx, server_tx, faults, armed_tx) => {}
        _ = downstream(server_rx, client_tx, armed_rx) => {}
    }
}

/// Client to server, packet by packet, arming the reply fault before a matching packet leaves
/// (so its reply cannot slip through).
async fn upstream(
    mut client: tokio::net::tcp::OwnedReadHalf,
    mut server: tokio::net::tcp::OwnedWriteHalf,
    faults: Arc<Mutex<Faults>>,
    armed: tokio::sync::watch::Sender<bool>,
) -> std::io::Result<()> {
    let mut header = [0u8; 4];
    loop {
        client.read_exact(&mut header).await?;
        let len =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        let mut payload = vec![0u8; len];
        client.read_exact(&mut payload).await?;
        if take_fault(&faults, &payload) {
            let _ = armed.send(true);
        }
        server.write_all(&header).await?;
        server.write_all(&payload).await?;
    }
}

/// Server to client; once armed, the next reply is swallowed and the link ends.
async fn downstream(
    mut server: tokio::net::tcp::OwnedReadHalf,
    mut client: tokio::net::tcp::OwnedWriteHalf,
    mut armed: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = server.read(&mut buf).await?;
        if n == 0 || *armed.borrow_and_update() {
            // Closed, or the server executed the command and answered: the client never hears it.
            return Ok(());
        }
        client.write_all(&buf[..n]).await?;
    }
}
