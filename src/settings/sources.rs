//! Where settings come from: the compiled-in defaults, a file and `GATEHOUSE_*` variables,
//! merged table by table, with the origin of every key kept for error messages.

use super::*;

pub(super) fn defaults() -> Table {
    DEFAULTS.parse().expect("config/default.toml is valid TOML")
}

/// Records `origin` for every key (and table) in `overlay`, by dotted path.
pub(super) fn record_origins(
    overlay: &Table,
    prefix: &str,
    origin: &str,
    out: &mut BTreeMap<String, String>,
) {
    for (key, value) in overlay {
        let path = format!("{prefix}{key}");
        if let Value::Table(inner) = value {
            record_origins(inner, &format!("{path}."), origin, out);
        }
        out.insert(path, origin.to_owned());
    }
}

/// Who set `key` (or the table holding it): a file, a variable, or the defaults.
pub(super) fn origin_of(origins: &BTreeMap<String, String>, key: &str) -> String {
    let mut path = key;
    loop {
        if let Some(origin) = origins.get(path) {
            return origin.clone();
        }
        match path.rsplit_once('.') {
            Some((parent, _)) => path = parent,
            None => return "the defaults".into(),
        }
    }
}

/// A `GATEHOUSE_*` environment variable that names no setting, and the closest one that does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEnvVar {
    pub name: String,
    pub closest: Option<String>,
}

impl std::fmt::Display for UnknownEnvVar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "environment variable {} names no setting and is ignored",
            self.name
        )?;
        if let Some(closest) = &self.closest {
            write!(f, " (did you mean {closest}?)")?;
        }
        Ok(())
    }
}

/// The `GATEHOUSE_*` variables in `env` that set nothing: a typo would otherwise fall back to
/// the default without a word. The caller warns about each.
pub fn unknown_env_vars(env: impl IntoIterator<Item = (String, String)>) -> Vec<UnknownEnvVar> {
    let table = defaults();
    let mut known: Vec<String> = ALIASES
        .iter()
        .map(|(alias, ..)| alias.to_string())
        .collect();
    for (section, keys) in &table {
        for key in keys.as_table().into_iter().flat_map(Table::keys) {
            known.push(format!("GATEHOUSE_{section}_{key}").to_ascii_uppercase());
        }
    }
    let mut unknown: Vec<UnknownEnvVar> = env
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name.starts_with("GATEHOUSE_"))
        .filter(|name| !NOT_SETTINGS_PREFIXES.iter().any(|p| name.starts_with(p)))
        .filter(|name| env_target(&table, name).is_none())
        .map(|name| {
            let closest = known
                .iter()
                .map(|k| (edit_distance(&name, k), k))
                // A typo or a missing suffix (`_SECS`), not any other setting.
                .filter(|(d, _)| *d <= (name.len() / 4).max(3))
                .min()
                .map(|(_, k)| k.clone());
            UnknownEnvVar { name, closest }
        })
        .collect();
    unknown.sort_by(|a, b| a.name.cmp(&b.name));
    unknown
}

/// Levenshtein distance, for "did you mean".
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Which `[section] key` an environment variable sets, if any.
pub(super) fn env_target(table: &Table, name: &str) -> Option<(String, String)> {
    if let Some((_, section, key)) = ALIASES.iter().find(|(alias, ..)| *alias == name) {
        return Some((section.to_string(), key.to_string()));
    }
    let rest = name.strip_prefix("GATEHOUSE_")?.to_ascii_lowercase();
    table.iter().find_map(|(section, keys)| {
        let key = rest.strip_prefix(section.as_str())?.strip_prefix('_')?;
        keys.as_table()?
            .contains_key(key)
            .then(|| (section.clone(), key.to_owned()))
    })
}

/// Sets a key from an environment string, typed like the default it replaces.
pub(super) fn set_from_env(
    table: &mut Table,
    name: &str,
    section: &str,
    key: &str,
    raw: &str,
) -> Result<(), SettingsError> {
    let slot = table
        .get_mut(section)
        .and_then(Value::as_table_mut)
        .and_then(|t| t.get_mut(key))
        .expect("env_target only names existing keys");
    let bad = |what: &str| SettingsError::Env {
        name: name.to_owned(),
        key: format!("{section}.{key}"),
        message: format!("expected {what}, got `{raw}`"),
    };
    *slot = match slot {
        Value::Integer(_) => Value::Integer(raw.trim().parse().map_err(|_| bad("an integer"))?),
        Value::Boolean(_) => Value::Boolean(raw.trim().parse().map_err(|_| bad("true or false"))?),
        _ => Value::String(raw.to_owned()),
    };
    Ok(())
}

/// Overlays `overlay` onto `base`, table by table.
pub(super) fn merge(base: &mut Table, overlay: Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(base)), Value::Table(overlay)) => merge(base, overlay),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}
