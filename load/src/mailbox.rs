//! Where the harness reads sign-in codes: the file mailer's folders of a server on this machine,
//! or its own SMTP sink, which the servers it starts relay to (a real SMTP conversation, spoken
//! by the `mailin` state machine over tokio), optionally as slow to accept a message as a distant
//! relay.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailin::{Action, Handler, Response, SessionBuilder};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// How long a waiter for a code looks again at the file mailer's folder.
const FOLDER_POLL: Duration = Duration::from_millis(2);

/// Codes kept for one recipient at most; older ones were superseded long ago.
const KEPT_PER_RECIPIENT: usize = 64;

/// The server's mail settings, which the harness owns: it must read the codes the server sends.
pub const MAIL_SETTINGS: [&str; 5] = [
    "MAJLIS_SMTP_HOST",
    "MAJLIS_SMTP_PORT",
    "MAJLIS_SMTP_TLS",
    "MAJLIS_SMTP_USERNAME",
    "MAJLIS_SMTP_PASSWORD",
];

/// How the servers of a run deliver sign-in codes to the harness.
#[derive(Debug, Clone, Default)]
pub enum Mail {
    /// The file mailer: `.eml` files in each tenant's `mail/` folder, on this machine.
    #[default]
    Files,
    /// SMTP to the harness's sink; the servers the harness starts are told to relay to it.
    Smtp(Arc<SmtpSink>),
}

/// The mail of one server: where to look for a code, and what was handed out already.
#[derive(Debug)]
pub struct Mailbox {
    mail: Mail,
    /// The server's data directory on this machine (the file mailer's folders are under it).
    data_dir: Option<PathBuf>,
    /// Mail files whose code was handed out.
    taken: Mutex<HashSet<PathBuf>>,
}

impl Mailbox {
    pub fn new(mail: Mail, data_dir: Option<PathBuf>) -> Self {
        Self {
            mail,
            data_dir,
            taken: Mutex::default(),
        }
    }

    /// The settings that make a server the harness starts deliver here.
    pub fn server_env(&self) -> Vec<(String, String)> {
        match &self.mail {
            Mail::Files => Vec::new(),
            Mail::Smtp(sink) => [
                ("MAJLIS_SMTP_HOST", sink.address.ip().to_string()),
                ("MAJLIS_SMTP_PORT", sink.address.port().to_string()),
                ("MAJLIS_SMTP_TLS", "none".to_owned()),
            ]
            .map(|(k, v)| (k.to_owned(), v))
            .to_vec(),
        }
    }

    /// The newest code mailed to `email` of tenant `slug` since `since` that was not handed out
    /// before, waiting for it at most `within`.
    pub async fn next_code(
        &self,
        slug: &str,
        email: &str,
        since: Instant,
        within: Duration,
    ) -> Option<String> {
        let deadline = tokio::time::Instant::now() + within;
        match &self.mail {
            Mail::Smtp(sink) => sink.next_code(email, since, deadline).await,
            Mail::Files => {
                let folder = self
                    .data_dir
                    .as_ref()?
                    .join("tenants")
                    .join(slug)
                    .join("mail");
                loop {
                    if let Some(code) = self.code_in_folder(&folder, email) {
                        return Some(code);
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return None;
                    }
                    tokio::time::sleep(FOLDER_POLL).await;
                }
            }
        }
    }

    /// The code of the newest mail file to `email` in `folder` not handed out yet.
    fn code_in_folder(&self, folder: &Path, email: &str) -> Option<String> {
        let mut files: Vec<_> = std::fs::read_dir(folder)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        let to = format!("To: {email}");
        let mut taken = self.taken.lock().ok()?;
        for path in files.into_iter().rev() {
            if taken.contains(&path) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if !text.lines().any(|line| line == to) {
                continue;
            }
            taken.insert(path);
            return code_in(&text);
        }
        None
    }
}

/// The sign-in code of a message: its first line that is six digits alone.
pub fn code_in(message: &str) -> Option<String> {
    message
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
}

/// An SMTP server in the harness that keeps the codes it is sent, by recipient.
#[derive(Debug)]
pub struct SmtpSink {
    address: SocketAddr,
    /// How long it takes to accept each message (its answer to the end of the data).
    latency: Duration,
    inbox: Mutex<HashMap<String, VecDeque<Arrival>>>,
    arrived: Notify,
    accepting: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Arrival {
    at: Instant,
    code: String,
}

impl SmtpSink {
    /// Listens on `address` (port 0: any free one) and accepts every message, each after
    /// `latency`.
    pub async fn start(address: SocketAddr, latency: Duration) -> std::io::Result<Arc<Self>> {
        let listener = TcpListener::bind(address).await?;
        let sink = Arc::new(Self {
            address: listener.local_addr()?,
            latency,
            inbox: Mutex::default(),
            arrived: Notify::new(),
            accepting: Mutex::default(),
        });
        // The loop holds the sink weakly, so dropping the last handle ends it.
        let weak = Arc::downgrade(&sink);
        let task = tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                let Some(sink) = weak.upgrade() else { return };
                tokio::spawn(async move {
                    let _ = sink.converse(stream, peer).await;
                });
            }
        });
        if let Ok(mut accepting) = sink.accepting.lock() {
            *accepting = Some(task);
        }
        Ok(sink)
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// How long it takes to accept each message.
    pub fn latency(&self) -> Duration {
        self.latency
    }

    /// Messages it has accepted that carried a code.
    pub fn received(&self) -> usize {
        self.inbox
            .lock()
            .map_or(0, |inbox| inbox.values().map(VecDeque::len).sum())
    }

    /// One client's SMTP session, line by line, until it quits or goes.
    async fn converse(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) -> std::io::Result<()> {
        stream.set_nodelay(true)?;
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        let mut session = SessionBuilder::new("majlis-load").build(
            peer.ip(),
            Collector {
                sink: Arc::clone(&self),
                recipients: Vec::new(),
                message: Vec::new(),
            },
        );
        write.write_all(&session.greeting().buffer()?).await?;
        let mut line = Vec::with_capacity(128);
        loop {
            line.clear();
            if read.read_until(b'\n', &mut line).await? == 0 {
                return Ok(());
            }
            let response = session.process(&line);
            if response.action == Action::NoReply {
                continue;
            }
            // The lone dot ends a message: a distant relay answers it late.
            if line == b".\r\n" && !response.is_error && !self.latency.is_zero() {
                tokio::time::sleep(self.latency).await;
            }
            write.write_all(&response.buffer()?).await?;
            if response.action == Action::Close {
                return Ok(());
            }
        }
    }

    fn deliver(&self, recipients: &[String], message: &[u8]) {
        let Some(code) = code_in(&String::from_utf8_lossy(message)) else {
            return;
        };
        let at = Instant::now();
        if let Ok(mut inbox) = self.inbox.lock() {
            for recipient in recipients {
                let codes = inbox.entry(recipient.to_ascii_lowercase()).or_default();
                if codes.len() == KEPT_PER_RECIPIENT {
                    codes.pop_front();
                }
                codes.push_back(Arrival {
                    at,
                    code: code.clone(),
                });
            }
        }
        self.arrived.notify_waiters();
    }

    /// The newest code to `email` that arrived since `since`, once; older ones are dropped.
    async fn next_code(
        &self,
        email: &str,
        since: Instant,
        deadline: tokio::time::Instant,
    ) -> Option<String> {
        let email = email.to_ascii_lowercase();
        loop {
            // Registered before looking, so a message that lands in between still wakes it.
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Ok(mut inbox) = self.inbox.lock()
                && let Some(codes) = inbox.get_mut(&email)
            {
                let newest = codes.pop_back().filter(|a| a.at >= since);
                codes.clear();
                if let Some(arrival) = newest {
                    return Some(arrival.code);
                }
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return None;
            }
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Ok(mut accepting) = self.accepting.lock()
            && let Some(task) = accepting.take()
        {
            task.abort();
        }
    }
}

/// What one SMTP session is sent: the envelope's recipients and the message.
struct Collector {
    sink: Arc<SmtpSink>,
    recipients: Vec<String>,
    message: Vec<u8>,
}

impl Handler for Collector {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.recipients = to.to_vec();
        self.message.clear();
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.message.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.sink.deliver(&self.recipients, &self.message);
        mailin::response::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Speaks one SMTP conversation to `address`, answering each reply before the next command.
    async fn send(address: SocketAddr, to: &str, body: &str) -> Vec<String> {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        let mut replies = Vec::new();
        let read_reply = async |stream: &mut TcpStream| {
            let mut buffer = vec![0u8; 512];
            let n = stream.read(&mut buffer).await.expect("read");
            String::from_utf8_lossy(&buffer[..n]).into_owned()
        };
        replies.push(read_reply(&mut stream).await);
        for command in [
            "EHLO portal.test\r\n".to_owned(),
            "MAIL FROM:<portal@acme.om>\r\n".to_owned(),
            format!("RCPT TO:<{to}>\r\n"),
            "DATA\r\n".to_owned(),
            format!("To: {to}\r\nSubject: code\r\n\r\n{body}\r\n.\r\n"),
            "QUIT\r\n".to_owned(),
        ] {
            stream.write_all(command.as_bytes()).await.expect("write");
            replies.push(read_reply(&mut stream).await);
        }
        replies
    }

    #[tokio::test]
    async fn a_code_sent_over_smtp_is_handed_out_once_to_its_recipient() {
        let sink = SmtpSink::start("127.0.0.1:0".parse().unwrap(), Duration::ZERO)
            .await
            .expect("sink");
        let mailbox = Mailbox::new(Mail::Smtp(Arc::clone(&sink)), None);
        let since = Instant::now();
        let replies = send(
            sink.address(),
            "Amal@acme.om",
            "Your code:\r\n\r\n    123456",
        )
        .await;
        assert!(replies[0].starts_with("220 "), "{replies:?}");
        assert!(replies[5].starts_with("250 "), "{replies:?}");
        let wait = Duration::from_secs(5);
        assert_eq!(
            mailbox.next_code("acme", "amal@acme.om", since, wait).await,
            Some("123456".to_owned())
        );
        assert_eq!(sink.received(), 0, "handed out once");
        assert_eq!(
            mailbox
                .next_code("acme", "amal@acme.om", since, Duration::from_millis(20))
                .await,
            None
        );
    }

    #[tokio::test]
    async fn a_waiter_is_woken_by_the_code_and_older_codes_are_not_handed_out() {
        let sink = SmtpSink::start("127.0.0.1:0".parse().unwrap(), Duration::ZERO)
            .await
            .expect("sink");
        let mailbox = Arc::new(Mailbox::new(Mail::Smtp(Arc::clone(&sink)), None));
        send(sink.address(), "b@acme.om", "111111").await;
        let since = Instant::now();
        let waiter = tokio::spawn({
            let mailbox = Arc::clone(&mailbox);
            async move {
                mailbox
                    .next_code("acme", "b@acme.om", since, Duration::from_secs(5))
                    .await
            }
        });
        send(sink.address(), "b@acme.om", "222222").await;
        assert_eq!(waiter.await.expect("join"), Some("222222".to_owned()));
    }

    #[tokio::test]
    async fn a_slow_sink_answers_the_end_of_a_message_late() {
        let latency = Duration::from_millis(150);
        let sink = SmtpSink::start("127.0.0.1:0".parse().unwrap(), latency)
            .await
            .expect("sink");
        let started = Instant::now();
        let replies = send(sink.address(), "c@acme.om", "333333").await;
        assert!(replies[5].starts_with("250 "), "{replies:?}");
        assert!(started.elapsed() >= latency, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn the_file_mailers_newest_unread_mail_to_the_member_gives_the_code() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = dir.path().join("tenants/acme/mail");
        std::fs::create_dir_all(&folder).expect("folder");
        let mail = |name: &str, to: &str, code: &str| {
            std::fs::write(folder.join(name), format!("To: {to}\r\n\r\n  {code}\r\n"))
                .expect("mail");
        };
        mail("1-m_1.eml", "a@acme.om", "111111");
        mail("2-m_2.eml", "b@acme.om", "222222");
        mail("3-m_1.eml", "a@acme.om", "333333");
        let mailbox = Mailbox::new(Mail::Files, Some(dir.path().to_owned()));
        let now = Instant::now();
        let quick = Duration::from_millis(10);
        let code = |email| mailbox.next_code("acme", email, now, quick);
        assert_eq!(code("a@acme.om").await.as_deref(), Some("333333"));
        assert_eq!(code("b@acme.om").await.as_deref(), Some("222222"));
        assert_eq!(code("a@acme.om").await.as_deref(), Some("111111"));
        assert_eq!(code("a@acme.om").await, None);
    }
}
