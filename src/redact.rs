//! Arguments that are credentials, which MONITOR and the slow log show as
//! `(redacted)`, as Redis does: every argument of AUTH, the user and
//! password after HELLO's AUTH, MIGRATE's AUTH password or AUTH2 user and
//! password, ACL SETUSER's name and rules, and the values CONFIG SET gives
//! requirepass, masterauth and masteruser (Redis's sensitive configs).

use crate::protocol::Args;

/// The indexes of `args` that are credentials, ascending (look one up
/// with `binary_search`: AUTH may have any number of arguments, and a
/// MONITOR line checks each of them).
pub fn secret_args(args: Args) -> Vec<usize> {
    let name = args.iter().next().unwrap_or_default();
    if name.eq_ignore_ascii_case(b"auth") {
        return (1..args.len()).collect();
    }
    if name.eq_ignore_ascii_case(b"hello") {
        // Its options in order, as Redis parses them: AUTH takes two
        // arguments, SETNAME one (a client named "auth" is no AUTH).
        let mut j = 2;
        while j < args.len() {
            let left = args.len() - 1 - j;
            let a = args.get(j);
            if a.eq_ignore_ascii_case(b"auth") && left >= 2 {
                return vec![j + 1, j + 2];
            }
            j += if a.eq_ignore_ascii_case(b"setname") && left >= 1 {
                2
            } else {
                1
            };
        }
        return Vec::new();
    }
    if name.eq_ignore_ascii_case(b"acl")
        && args.len() > 2
        && args.get(1).eq_ignore_ascii_case(b"setuser")
    {
        // The user's name and rules (passwords among them).
        return (2..args.len()).collect();
    }
    if name.eq_ignore_ascii_case(b"config")
        && args.len() > 2
        && args.get(1).eq_ignore_ascii_case(b"set")
    {
        const SENSITIVE: [&[u8]; 3] = [b"requirepass", b"masterauth", b"masteruser"];
        return (2..args.len() - 1)
            .step_by(2)
            .filter(|&i| {
                SENSITIVE
                    .iter()
                    .any(|s| args.get(i).eq_ignore_ascii_case(s))
            })
            .map(|i| i + 1)
            .collect();
    }
    if name.eq_ignore_ascii_case(b"migrate") {
        let mut secret = Vec::new();
        crate::commands::migrate::walk_options(args, |i| secret.push(i));
        return secret;
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::secret_args;
    use crate::protocol::Args;

    fn secret(words: &[&str]) -> Vec<usize> {
        let buf: Vec<u8> = words.concat().into_bytes();
        let mut at = 0;
        let ranges: Vec<std::ops::Range<usize>> = words
            .iter()
            .map(|w| {
                at += w.len();
                at - w.len()..at
            })
            .collect();
        let secret = secret_args(Args::from_parts(&buf, &ranges));
        assert!(
            secret.windows(2).all(|w| w[0] < w[1]),
            "ascending, for binary_search: {secret:?}"
        );
        secret
    }

    #[test]
    fn credentials_of_auth_hello_and_migrate() {
        assert_eq!(secret(&["AUTH", "u", "p"]), [1, 2]);
        assert_eq!(
            secret(&["hello", "3", "auth", "u", "p", "setname", "n"]),
            [3, 4]
        );
        assert_eq!(
            secret(&["HELLO", "3", "SETNAME", "auth", "AUTH", "u", "p"]),
            [5, 6]
        );
        assert_eq!(
            secret(&["hello", "3", "setname", "auth"]),
            Vec::<usize>::new()
        );
        assert_eq!(secret(&["ACL", "SETUSER", "u", ">pw", "on"]), [2, 3, 4]);
        assert_eq!(secret(&["acl", "whoami"]), Vec::<usize>::new());
        let m = ["MIGRATE", "h", "1", "", "0", "5"];
        let with = |rest: &[&'static str]| -> Vec<usize> {
            secret(&m.iter().chain(rest).copied().collect::<Vec<_>>())
        };
        assert_eq!(with(&["COPY", "AUTH", "pw"]), [8]);
        assert_eq!(with(&["auth2", "u", "pw", "REPLACE"]), [7, 8]);
        // After KEYS everything is a key, even a key named AUTH.
        assert_eq!(with(&["KEYS", "auth", "k"]), Vec::<usize>::new());
        // A dangling AUTH names nothing.
        assert_eq!(with(&["AUTH"]), Vec::<usize>::new());
        assert_eq!(secret(&["get", "auth"]), Vec::<usize>::new());
        // CONFIG SET's sensitive values, wherever they are in the list.
        assert_eq!(
            secret(&[
                "CONFIG",
                "SET",
                "maxmemory",
                "1",
                "REQUIREPASS",
                "pw",
                "masterauth",
                "x"
            ]),
            [5, 7]
        );
        assert_eq!(
            secret(&["config", "set", "masteruser"]),
            Vec::<usize>::new()
        );
        assert_eq!(
            secret(&["config", "get", "requirepass"]),
            Vec::<usize>::new()
        );
    }
}
