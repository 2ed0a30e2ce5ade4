//! `config.ini`: API keys and where the APIs live.
//!
//! The file has the original assignments' shape (`[UNSPLASH]` `access_key`,
//! `secret_key`; `[IMGUR]` `client_id`), plus `api_base` in each section so a
//! test can point a client at a local server, and `[ORIGIN]` for the embedded
//! image host. Environment variables override the file. Keys are held in
//! [`Secret`], whose `Debug` and `Display` print `***`, so no log line, error
//! or report can leak one by accident.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "config.ini";

/// How this tool introduces itself to servers; APIs ask clients to name themselves.
pub const USER_AGENT: &str = concat!("thumbnails-rs/", env!("CARGO_PKG_VERSION"));

/// Where the Unsplash API lives unless `api_base` says otherwise.
pub const UNSPLASH_API: &str = "https://api.unsplash.com";

/// Where the Imgur API lives unless `api_base` says otherwise.
pub const IMGUR_API: &str = "https://api.imgur.com";

/// The Imgur gallery listed unless `[IMGUR] gallery` says otherwise: the
/// path between `/3/gallery/` and the page number.
pub const IMGUR_GALLERY: &str = "random/random";

/// Every key the file may hold, by section; anything else is a typo to report.
const KNOWN_KEYS: [(&str, &[&str]); 3] = [
    ("UNSPLASH", &["access_key", "secret_key", "api_base"]),
    ("IMGUR", &["client_id", "client_secret", "api_base", "gallery"]),
    ("ORIGIN", &["latency_ms", "jitter_ms", "photos_dir"]),
];

/// A configuration problem, always saying what to fix.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// `--config FILE` names a file that cannot be read.
    #[error("cannot read config file {path}: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file is not valid INI.
    #[error("{path} is not a valid INI file: {reason}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Parser message with line and column.
        reason: String,
    },
    /// A section or key the tool does not know (usually a typo).
    #[error("{path}: unknown {what}; see config.ini.example for the keys")]
    Unknown {
        /// The file.
        path: PathBuf,
        /// E.g. "key `acess_key` in `[UNSPLASH]`".
        what: String,
    },
    /// A value of the wrong form.
    #[error("{path}: {key} {problem}")]
    Invalid {
        /// The file (or the environment variable's name).
        path: PathBuf,
        /// `[SECTION] key`.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

/// A credential. It can be used (`expose`) but never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The credential itself, for a request header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `[UNSPLASH]`: configured when `access_key` is set.
#[derive(Debug, Clone)]
pub struct UnsplashConfig {
    /// Sent as `Authorization: Client-ID <access_key>`.
    pub access_key: Option<Secret>,
    /// Only needed for user-authenticated calls, which this tool does not make.
    pub secret_key: Option<Secret>,
    /// API root, [`UNSPLASH_API`] by default.
    pub api_base: String,
}

/// `[IMGUR]`: configured when `client_id` is set.
#[derive(Debug, Clone)]
pub struct ImgurConfig {
    /// Sent as `Authorization: Client-ID <client_id>`.
    pub client_id: Option<Secret>,
    /// Only needed for OAuth, which this tool does not use.
    pub client_secret: Option<Secret>,
    /// API root, [`IMGUR_API`] by default.
    pub api_base: String,
    /// The gallery listed, [`IMGUR_GALLERY`] by default (e.g. `hot/viral/day`).
    pub gallery: String,
}

/// `[ORIGIN]`: how the embedded image host behaves.
#[derive(Debug, Clone)]
pub struct OriginSettings {
    /// Mean delay before each image (default 200 ms).
    pub latency: Duration,
    /// Spread of the delay either way (default 100 ms).
    pub jitter: Duration,
    /// Serve this folder's photos instead of generated ones.
    pub photos_dir: Option<PathBuf>,
}

/// Everything `config.ini` and the environment say.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    /// Unsplash credentials.
    pub unsplash: UnsplashConfig,
    /// Imgur credentials.
    pub imgur: ImgurConfig,
    /// The embedded origin.
    pub origin: OriginSettings,
}

impl Config {
    /// Reads `explicit` (an error if missing), else `config.ini` if it exists,
    /// else nothing; then applies the environment through `env` (pass
    /// `|name| std::env::var(name).ok()`; tests pass a map, so nothing global
    /// is touched).
    pub fn load(explicit: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let path = match explicit {
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.is_file()),
        };
        let text = match &path {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|err| ConfigError::Unreadable { path: path.clone(), reason: err.to_string() })?,
            None => String::new(),
        };
        let mut config = Config::parse(&text, path.as_deref().unwrap_or(Path::new("(no config file)")))?;
        config.file = path;
        config.apply_env(env)?;
        Ok(config)
    }

    /// Parses the text of a config file; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        // No backslash escapes: `C:\photos` in photos_dir means what it says.
        let options = ini::ParseOption { enabled_escape: false, ..ini::ParseOption::default() };
        let ini = ini::Ini::load_from_str_opt(text, options)
            .map_err(|err| ConfigError::Syntax { path: path.to_path_buf(), reason: err.to_string() })?;
        let mut config = Config {
            file: None,
            unsplash: UnsplashConfig { access_key: None, secret_key: None, api_base: UNSPLASH_API.into() },
            imgur: ImgurConfig {
                client_id: None,
                client_secret: None,
                api_base: IMGUR_API.into(),
                gallery: IMGUR_GALLERY.into(),
            },
            origin: OriginSettings {
                latency: Duration::from_millis(200),
                jitter: Duration::from_millis(100),
                photos_dir: None,
            },
        };
        for (section, properties) in ini.iter() {
            let Some(section) = section else {
                if let Some((key, _)) = properties.iter().next() {
                    let what = format!("key `{key}` outside any section");
                    return Err(ConfigError::Unknown { path: path.to_path_buf(), what });
                }
                continue;
            };
            let name = section.to_ascii_uppercase();
            let Some((_, keys)) = KNOWN_KEYS.iter().find(|(known, _)| *known == name) else {
                let what = format!("section [{section}]");
                return Err(ConfigError::Unknown { path: path.to_path_buf(), what });
            };
            for (key, value) in properties.iter() {
                let key = key.to_ascii_lowercase();
                if !keys.contains(&key.as_str()) {
                    let what = format!("key `{key}` in [{name}]");
                    return Err(ConfigError::Unknown { path: path.to_path_buf(), what });
                }
                let value = value.trim();
                if !value.is_empty() {
                    config.set(&name, &key, value, path)?;
                }
            }
        }
        Ok(config)
    }

    /// Sets one value; `source` names the file or variable in messages.
    fn set(&mut self, section: &str, key: &str, value: &str, source: &Path) -> Result<(), ConfigError> {
        let invalid = |problem: &str| ConfigError::Invalid {
            path: source.to_path_buf(),
            key: format!("[{section}] {key}"),
            problem: problem.to_string(),
        };
        match (section, key) {
            ("UNSPLASH", "access_key") => self.unsplash.access_key = Some(Secret::new(value)),
            ("UNSPLASH", "secret_key") => self.unsplash.secret_key = Some(Secret::new(value)),
            ("UNSPLASH", "api_base") => self.unsplash.api_base = api_base(value).map_err(|p| invalid(&p))?,
            ("IMGUR", "client_id") => self.imgur.client_id = Some(Secret::new(value)),
            ("IMGUR", "client_secret") => self.imgur.client_secret = Some(Secret::new(value)),
            ("IMGUR", "api_base") => self.imgur.api_base = api_base(value).map_err(|p| invalid(&p))?,
            ("IMGUR", "gallery") => self.imgur.gallery = gallery(value).map_err(|p| invalid(&p))?,
            ("ORIGIN", "latency_ms") => self.origin.latency = millis(value).map_err(|p| invalid(&p))?,
            ("ORIGIN", "jitter_ms") => self.origin.jitter = millis(value).map_err(|p| invalid(&p))?,
            ("ORIGIN", "photos_dir") => self.origin.photos_dir = Some(PathBuf::from(value)),
            _ => {}
        }
        Ok(())
    }

    /// Environment variables win over the file.
    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        const OVERRIDES: [(&str, &str, &str); 5] = [
            ("UNSPLASH_ACCESS_KEY", "UNSPLASH", "access_key"),
            ("UNSPLASH_SECRET_KEY", "UNSPLASH", "secret_key"),
            ("UNSPLASH_API_BASE", "UNSPLASH", "api_base"),
            ("IMGUR_CLIENT_ID", "IMGUR", "client_id"),
            ("IMGUR_API_BASE", "IMGUR", "api_base"),
        ];
        for (variable, section, key) in OVERRIDES {
            if let Some(value) = env(variable).filter(|v| !v.trim().is_empty()) {
                self.set(section, key, value.trim(), Path::new(variable))?;
            }
        }
        Ok(())
    }
}

fn api_base(value: &str) -> Result<String, String> {
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(value.trim_end_matches('/').to_string()),
        _ => Err(format!("must be an http(s) URL such as {UNSPLASH_API}, not {value:?}")),
    }
}

/// A gallery path such as `hot/viral/day`: path segments only, so the value
/// cannot point the request anywhere but a gallery.
fn gallery(value: &str) -> Result<String, String> {
    let path = value.trim_matches('/');
    let fine = path.split('/').all(|segment| {
        !segment.is_empty() && segment.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    if fine {
        Ok(path.to_string())
    } else {
        Err(format!("must be a gallery path such as hot/viral/day, not {value:?}"))
    }
}

fn millis(value: &str) -> Result<Duration, String> {
    value
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| format!("must be a whole number of milliseconds, not {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    /// The original assignments' file shape parses, with `api_base` overrides.
    #[test]
    fn parses_the_assignment_format() {
        let text = "[UNSPLASH]\naccess_key = ak-123\nsecret_key = sk-456\napi_base = http://127.0.0.1:9/\n\n[IMGUR]\nclient_id = imgur-789\n";
        let config = Config::parse(text, Path::new("config.ini")).unwrap();
        assert_eq!(config.unsplash.access_key.as_ref().map(Secret::expose), Some("ak-123"));
        assert_eq!(config.unsplash.secret_key.as_ref().map(Secret::expose), Some("sk-456"));
        assert_eq!(config.unsplash.api_base, "http://127.0.0.1:9");
        assert_eq!(config.imgur.client_id.as_ref().map(Secret::expose), Some("imgur-789"));
        assert_eq!(config.imgur.api_base, IMGUR_API);
    }

    /// Empty values, as in config.ini.example, mean "not configured".
    #[test]
    fn empty_values_are_unset() {
        let config = Config::parse("[UNSPLASH]\naccess_key =\n[IMGUR]\nclient_id = \n", Path::new("c")).unwrap();
        assert!(config.unsplash.access_key.is_none());
        assert!(config.imgur.client_id.is_none());
    }

    /// The environment overrides the file.
    #[test]
    fn environment_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.ini");
        std::fs::write(&path, "[UNSPLASH]\naccess_key = from-file\n[IMGUR]\nclient_id = file-id\n").unwrap();
        let env = |name: &str| (name == "UNSPLASH_ACCESS_KEY").then(|| "from-env".to_string());
        let config = Config::load(Some(&path), env).unwrap();
        assert_eq!(config.unsplash.access_key.as_ref().map(Secret::expose), Some("from-env"));
        assert_eq!(config.imgur.client_id.as_ref().map(Secret::expose), Some("file-id"));
    }

    /// Typos and bad values are errors that name the key, never the secret.
    #[test]
    fn mistakes_are_named() {
        let err = Config::parse("[UNSPLASH]\nacess_key = sekrit-value\n", Path::new("config.ini")).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("acess_key") && message.contains("[UNSPLASH]"), "{message}");
        assert!(!message.contains("sekrit-value"), "{message}");
        let err = Config::parse("[FLICKR]\nkey = x\n", Path::new("c")).unwrap_err();
        assert!(err.to_string().contains("[FLICKR]"));
        let err = Config::parse("[IMGUR]\napi_base = ftp://x\n", Path::new("c")).unwrap_err();
        assert!(err.to_string().contains("api_base"));
        let err = Config::load(Some(Path::new("/nonexistent/config.ini")), no_env).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/config.ini"));
    }

    /// A secret prints as stars in every formatting.
    #[test]
    fn secrets_never_print() {
        let config = Config::parse("[UNSPLASH]\naccess_key = top-secret-key\n", Path::new("c")).unwrap();
        let shown = format!("{config:?} {}", config.unsplash.access_key.as_ref().unwrap());
        assert!(!shown.contains("top-secret-key"), "{shown}");
        assert!(shown.contains("***"));
    }
}
