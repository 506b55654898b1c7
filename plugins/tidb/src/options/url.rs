//! The URL grammar, and redaction that holds for malformed URLs too.
//!
//! ```text
//! scheme "://" [user [":" password] "@"] host ["," host]* ["/" database] ["?" option ("&" option)*]
//! host = name [":" port] | "[" ipv6 "]" [":" port]        port 1-65535, default by scheme
//! ```
//!
//! Like libpq's and Connector/J's URLs, reserved characters in the user name or password
//! (`/ ? # @` and `%`) must be percent-encoded. A password that breaks this rule moves part of
//! itself into the host list, path or query, where an error message would quote it. So the
//! parser finds the secret by the *last* `@` first, refuses any `@` after the host list
//! without quoting anything before it, and quotes a port only when it is all digits. Every
//! message that quotes the URL quotes [`redact`]'s output, which masks everything that could
//! be a password in any input, well-formed or not.

/// The parts of a URL, before options are interpreted.
#[derive(Debug)]
pub(crate) struct Parts<'a> {
    /// Percent-decoded.
    pub(crate) user: Option<String>,
    /// Percent-decoded; never printed.
    pub(crate) password: Option<String>,
    pub(crate) hosts: Vec<(String, u16)>,
    /// Percent-decoded; `None` for no path or an empty one.
    pub(crate) database: Option<String>,
    pub(crate) query: &'a str,
}

/// Splits `url` into its parts. Errors never quote the user name's password or anything that
/// could be part of it.
pub(crate) fn split(url: &str) -> Result<Parts<'_>, String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        "expected `mysql://` or `tidb://` followed by user@host (percent-encode `/ ? # @` in a password)".to_owned()
    })?;
    let default_port = match scheme {
        "mysql" => 3306,
        "tidb" => 4000,
        other if other.chars().all(|c| c.is_ascii_alphanumeric()) => {
            return Err(format!("unsupported scheme `{other}`, use mysql or tidb"));
        }
        _ => return Err("expected `mysql://` or `tidb://` at the start".into()),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if tail.contains('@') {
        return Err(
            "`@` after the host list: percent-encode `/ ? # @` in the user name and password \
             (%2F %3F %23 %40), and `@` in option values (%40)"
                .into(),
        );
    }
    if tail.contains('#') {
        return Err("a URL fragment (`#…`) is not allowed; percent-encode `#` as %23".into());
    }
    let (userinfo, host_list) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(info) => {
            let (user, password) = match info.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (info, None),
            };
            let user = decode(user).ok_or("the user name is not valid percent-encoded UTF-8")?;
            let password = password
                .map(|p| decode(p).ok_or("the password is not valid percent-encoded UTF-8"))
                .transpose()?;
            (Some(user), password)
        }
    };
    let hosts = hosts(host_list, default_port)?;
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, query),
        None => (tail, ""),
    };
    let database = database(path)?;
    Ok(Parts {
        user,
        password,
        hosts,
        database,
        query,
    })
}

fn hosts(list: &str, default_port: u16) -> Result<Vec<(String, u16)>, String> {
    if list.is_empty() {
        return Err("no host given".into());
    }
    let mut hosts: Vec<(String, u16)> = Vec::new();
    for entry in list.split(',') {
        let (name, port) = host(entry.trim(), default_port)?;
        if hosts
            .iter()
            .any(|(n, p)| *p == port && n.eq_ignore_ascii_case(&name))
        {
            return Err(format!(
                "endpoint `{}` is listed twice",
                super::display_endpoint(&name, port)
            ));
        }
        hosts.push((name, port));
    }
    Ok(hosts)
}

/// One `name[:port]` or `[ipv6][:port]`.
fn host(entry: &str, default_port: u16) -> Result<(String, u16), String> {
    if entry.is_empty() {
        return Err("empty host in host list".into());
    }
    let (name, port) = if let Some(bracketed) = entry.strip_prefix('[') {
        let (address, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("`{entry}`: `[` without `]`"))?;
        if address.is_empty()
            || !address
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(format!("`{entry}` is not an IPv6 address in brackets"));
        }
        match after {
            "" => (address, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (address, Some(port)),
                None => return Err(format!("`{entry}`: expected `:port` after `]`")),
            },
        }
    } else {
        match entry.split_once(':') {
            Some((name, port)) if port.contains(':') || name.is_empty() => {
                return Err(format!(
                    "`{name}:…`: an IPv6 address goes in brackets, e.g. `[::1]:4000`"
                ));
            }
            Some((name, port)) => (name, Some(port)),
            None => (entry, None),
        }
    };
    let port = match port {
        None => default_port,
        Some(port) => parse_port(name, port)?,
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':');
    if !name.chars().all(plain) {
        return Err(format!(
            "host `{}` may hold only letters, digits, `-`, `.` and `_`",
            name.escape_debug()
        ));
    }
    Ok((name.to_owned(), port))
}

/// A port is quoted only when it is all digits: anything else may be a password that lost its
/// `@host`.
fn parse_port(name: &str, port: &str) -> Result<u16, String> {
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "bad port after `{name}:` (not a number; is `@host` missing after a password?)"
        ));
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("bad port `{port}` for `{name}`: use 1 to 65535")),
        Ok(port) => Ok(port),
    }
}

fn database(path: &str) -> Result<Option<String>, String> {
    let name = path.strip_prefix('/').unwrap_or(path);
    if name.is_empty() {
        return Ok(None);
    }
    let decoded = decode(name).ok_or("the database name is not valid percent-encoded UTF-8")?;
    if name.contains('/') || decoded.contains('/') || decoded.contains('\0') {
        return Err(format!(
            "database name `{}` may not contain `/`",
            name.escape_debug()
        ));
    }
    Ok(Some(decoded))
}

/// Percent-decoding (`%2F` → `/`); `None` for a broken escape or invalid UTF-8.
pub(crate) fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `url` with everything that could be a password replaced by `***`, for any input: a
/// well-formed URL keeps its user, hosts, path and query; a malformed one (a `/`, `?` or `#` in
/// the password, one slash after the scheme, no scheme) loses more rather than leak.
///
/// The secret ends at the last `@`. In a URL that starts `mysql://` or `tidb://`, everything
/// from the first `:` after the scheme to that `@` is masked; in anything else everything
/// before that `@` is, since which part is the user cannot be told. Without any `@`, a
/// non-numeric port may be a password whose `@host` is missing, and is masked too.
pub fn redact(url: &str) -> String {
    let scheme_end = ["mysql://", "tidb://"]
        .iter()
        .find(|s| url.starts_with(*s))
        .map(|s| s.len());
    let start = scheme_end.unwrap_or(0);
    let (head, body) = url.split_at(start);
    if let Some(at) = body.rfind('@') {
        let (userinfo, rest) = body.split_at(at);
        return match (scheme_end, userinfo.split_once(':')) {
            (Some(_), Some((user, _))) => format!("{head}{user}:***{rest}"),
            (Some(_), None) => url.to_owned(),
            (None, _) => format!("***{rest}"),
        };
    }
    let authority_end = body.find(['/', '?', '#']).unwrap_or(body.len());
    let (authority, tail) = body.split_at(authority_end);
    let hosts: Vec<String> = authority
        .split(',')
        .map(|entry| match entry.rsplit_once(':') {
            Some((name, port))
                if !port.bytes().all(|b| b.is_ascii_digit()) && !port.ends_with(']') =>
            {
                format!("{name}:***")
            }
            _ => entry.to_owned(),
        })
        .collect();
    format!("{head}{}{tail}", hosts.join(","))
}
