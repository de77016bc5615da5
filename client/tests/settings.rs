//! The client's settings in layers: every flag has a `TICKFORGE_CLIENT_…`
//! variable (`--help` shows it) and reads it, below a flag and above the
//! `--config` file. (The layers' rules one by one: the server's
//! `tests/settings.rs`; both binaries share them.)

use std::process::{Command, Output};

const CLIENT: &str = env!("CARGO_BIN_EXE_tickforge-client");

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(CLIENT);
    command.args(args);
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("TICKFORGE_")) {
        command.env_remove(key);
    }
    command.envs(env.iter().copied()).output().expect("run the client")
}

#[test]
fn every_flag_has_a_variable_and_the_client_reads_them() {
    let help = String::from_utf8(run(&["--help"], &[]).stdout).unwrap();
    let heads = help.lines().filter(|l| l.starts_with("      --")).count();
    let own = help.lines().filter(|l| l.starts_with("      --print-config")).count();
    let with_env = help.matches("[env: TICKFORGE_CLIENT_").count() + help.matches("[env: TICKFORGE_PASSWORD").count();
    assert!(heads > 20, "{help}");
    assert_eq!(with_env, heads - own, "a flag without a variable:\n{help}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("client.toml");
    std::fs::write(&file, "user = \"from-file\"\nserver = \"http://10.1.1.1:7000\"\nbots = 3\n").unwrap();
    let file = file.to_str().unwrap();
    let out = run(
        &["--print-config", "--config", file, "--bots", "5"],
        &[("TICKFORGE_CLIENT_USER", "from-env"), ("TICKFORGE_PASSWORD", "a-secret-password")],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    for wanted in [
        "user = \"from-env\" # environment TICKFORGE_CLIENT_USER",
        "server = \"http://10.1.1.1:7000\" # file",
        "bots = 5 # flag",
        "# password: set (secret) # environment TICKFORGE_PASSWORD",
    ] {
        assert!(printed.lines().any(|l| l == wanted), "no {wanted:?} in\n{printed}");
    }
    assert!(!printed.contains("a-secret-password"));
}
