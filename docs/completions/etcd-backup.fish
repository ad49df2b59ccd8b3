# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_etcd_backup_global_optspecs
    string join \n endpoints= cacert= cert= key= backup-dir= manifest= no-manifest w/write-out= q/quiet v/verbose log-format= metrics-file= config= no-config show-settings h/help V/version
end

function __fish_etcd_backup_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_etcd_backup_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_etcd_backup_using_subcommand
    set -l cmd (__fish_etcd_backup_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -l endpoints -d 'etcd client URLs, comma-separated [default: from the manifest, else https://127.0.0.1:2379]' -r
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -l cacert -d 'CA bundle that signed etcd\'s serving certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/ca.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -l cert -d 'Client certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/server.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -l key -d 'Client private key [default: from the manifest, else /etc/kubernetes/pki/etcd/server.key]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -l backup-dir -d 'Directory holding the backups' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -l manifest -d 'kubeadm\'s etcd static pod manifest: the default is read where it exists, a path you name must exist' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -s w -l write-out -d 'Output format on stdout' -r -f -a "table\t''
json\t''
simple\t'One line, comma-separated (etcdutl\'s `simple`)'
fields\t'One `"Name" : value` line per field (etcdutl\'s `fields`)'"
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -l log-format -d 'Messages on stderr: text, or JSON lines for log shippers' -r -f -a "text\t'`etcd-backup: …`, `warning: …`, `error: …` lines for people and cron mails'
json\t'One JSON object per line: ts (RFC 3339, UTC), level (error, warn, info, debug), msg, and hint, causes and target where they apply'"
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -l metrics-file -d 'Write metrics of every save run here, for node-exporter\'s textfile collector' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -l config -d 'Read settings from this TOML file (it must exist) [default: /etc/etcd-backup/config.toml, when it exists]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -l no-manifest -d 'Do not read the kubeadm manifest, even where it exists'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -s q -l quiet -d 'Only print errors on stderr'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -s v -l verbose -d 'More detail on stderr (-vv for debug logs; RUST_LOG overrides)'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -l no-config -d 'Read no config file, whatever --config says'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -l show-settings -d 'Print the resolved settings and where each comes from, then exit without doing anything'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -s V -l version -d 'Print version'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -f -a "save" -d 'Stream a snapshot from etcd into a new, checked backup file'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -f -a "status" -d 'Show a snapshot\'s hash, revision, keys and size, or the state of the backup set'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -f -a "ls" -d 'Show a snapshot\'s hash, revision, keys and size, or the state of the backup set'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -f -a "list" -d 'Show a snapshot\'s hash, revision, keys and size, or the state of the backup set'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -f -a "verify" -d 'Prove snapshot files intact and restorable'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -f -a "prune" -d 'Delete old backups by retention rules; never the newest good one'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -f -a "restore" -d 'Restore a snapshot: this kubeadm node\'s etcd, or a new data dir (--output-dir)'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -f -a "drill" -d 'Rehearse a restore: build the backup\'s data dir in a scratch dir, read it back, start etcd'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -f -a "delete" -d 'Delete the named backups, with the same safety rules as prune'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -f -a "health" -d 'Check every member of the cluster, whether they agree on the data, and what to do'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -f -a "inspect" -d 'What a backup holds: revisions, keys, members, leases, and per Kubernetes resource'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -f -a "export" -d 'Print a backup\'s keys as `etcdctl get -w json` would, one JSON object per line'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -f -a "diff" -d 'What changed between two backups, or between a backup and the live etcd (--live)'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -f -a "member" -d 'Replace this node\'s broken etcd member: remove it, re-add it, let it copy the data'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -f -a "completions" -d 'Print the shell completion script for bash, zsh or fish on stdout'
complete -c etcd-backup -n "__fish_etcd_backup_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l label -d 'Label appended to the file name, e.g. pre-upgrade-1.31 ([A-Za-z0-9._-])' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l dial-timeout -d 'Give up connecting to an endpoint after this long (ETCDCTL_DIAL_TIMEOUT is used when ETCD_BACKUP_DIAL_TIMEOUT is not set)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l stall-timeout -d 'Give up when etcd sends nothing for this long' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l timeout -d 'Give up when the whole run takes longer than this' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l keep-last -d 'Keep the N newest backups' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l keep-days -d 'Keep backups taken in the last N days (N×24h) [default when no keep flag is given: 7]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l keep-within -d 'Keep backups taken within this long before now, e.g. 36h or 2w' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l keep-hourly -d 'Keep the newest backup of each of the last N hours (UTC) that have one' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l keep-daily -d 'Keep the newest backup of each of the last N days (UTC) that have one' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l keep-weekly -d 'Keep the newest backup of each of the last N ISO weeks (UTC) that have one' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l keep-monthly -d 'Keep the newest backup of each of the last N months (UTC) that have one' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l compress -d 'Compress the snapshot as it arrives (file name gets .zst)' -r -f -a "none\t''
zstd\t''"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l encrypt-to -d 'Encrypt to this age recipient (age1…) or recipients file; repeatable' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l kubernetes-dir -d 'Where --with-pki reads kubeadm\'s files' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l kubelet-dir -d 'Where --with-pki reads the kubelet\'s config.yaml and kubeadm-flags.env' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l remote -d 'Off-site copies: s3://, gs://, az:// or file:// URL of a prefix' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l remote-endpoint -d 'Endpoint of the store (S3-compatible, GCS or Azure)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l remote-region -d 'Region [default: AWS_REGION, the profile\'s, else us-east-1]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l remote-timeout -d 'Give up on one request to the store after this long' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l remote-retries -d 'Retries of a failed request to the store' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l endpoints -d 'etcd client URLs, comma-separated [default: from the manifest, else https://127.0.0.1:2379]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l cacert -d 'CA bundle that signed etcd\'s serving certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/ca.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l cert -d 'Client certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/server.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l key -d 'Client private key [default: from the manifest, else /etc/kubernetes/pki/etcd/server.key]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l backup-dir -d 'Directory holding the backups' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l manifest -d 'kubeadm\'s etcd static pod manifest: the default is read where it exists, a path you name must exist' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -s w -l write-out -d 'Output format on stdout' -r -f -a "table\t''
json\t''
simple\t'One line, comma-separated (etcdutl\'s `simple`)'
fields\t'One `"Name" : value` line per field (etcdutl\'s `fields`)'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l log-format -d 'Messages on stderr: text, or JSON lines for log shippers' -r -f -a "text\t'`etcd-backup: …`, `warning: …`, `error: …` lines for people and cron mails'
json\t'One JSON object per line: ts (RFC 3339, UTC), level (error, warn, info, debug), msg, and hint, causes and target where they apply'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l metrics-file -d 'Write metrics of every save run here, for node-exporter\'s textfile collector' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l config -d 'Read settings from this TOML file (it must exist) [default: /etc/etcd-backup/config.toml, when it exists]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l prune -d 'After a successful save, prune the backup dir by the retention flags'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l keep-labeled -d 'Keep every labeled backup (save --label), whatever the rules say [the default]'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l prune-labeled -d 'Apply the rules to labeled backups too'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l with-pki -d 'Also save the kubeadm DR bundle (PKI, manifests, kubeconfigs) beside the backup'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l verify-upload -d 'After uploading, read the object back and check its SHA-256'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l skip-unless-leader -d 'Save only on the raft leader\'s node (exit 0 elsewhere)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l skip-hash-check -d 'Save without first checking that the members agree on the data'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l no-manifest -d 'Do not read the kubeadm manifest, even where it exists'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -s q -l quiet -d 'Only print errors on stderr'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -s v -l verbose -d 'More detail on stderr (-vv for debug logs; RUST_LOG overrides)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l no-config -d 'Read no config file, whatever --config says'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -l show-settings -d 'Print the resolved settings and where each comes from, then exit without doing anything'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand save" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -l max-age -d 'Exit 1 when the newest verified backup is older than this (e.g. 5h)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -s i -l identity -d 'age identity file (AGE-SECRET-KEY-1…, as age-keygen writes it, mode 0600) to decrypt encrypted backups; repeatable' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -l remote -d 'Off-site copies: s3://, gs://, az:// or file:// URL of a prefix' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -l remote-endpoint -d 'Endpoint of the store (S3-compatible, GCS or Azure)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -l remote-region -d 'Region [default: AWS_REGION, the profile\'s, else us-east-1]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -l remote-timeout -d 'Give up on one request to the store after this long' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -l remote-retries -d 'Retries of a failed request to the store' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -l endpoints -d 'etcd client URLs, comma-separated [default: from the manifest, else https://127.0.0.1:2379]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -l cacert -d 'CA bundle that signed etcd\'s serving certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/ca.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -l cert -d 'Client certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/server.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -l key -d 'Client private key [default: from the manifest, else /etc/kubernetes/pki/etcd/server.key]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -l backup-dir -d 'Directory holding the backups' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -l manifest -d 'kubeadm\'s etcd static pod manifest: the default is read where it exists, a path you name must exist' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -s w -l write-out -d 'Output format on stdout' -r -f -a "table\t''
json\t''
simple\t'One line, comma-separated (etcdutl\'s `simple`)'
fields\t'One `"Name" : value` line per field (etcdutl\'s `fields`)'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -l log-format -d 'Messages on stderr: text, or JSON lines for log shippers' -r -f -a "text\t'`etcd-backup: …`, `warning: …`, `error: …` lines for people and cron mails'
json\t'One JSON object per line: ts (RFC 3339, UTC), level (error, warn, info, debug), msg, and hint, causes and target where they apply'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -l metrics-file -d 'Write metrics of every save run here, for node-exporter\'s textfile collector' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -l config -d 'Read settings from this TOML file (it must exist) [default: /etc/etcd-backup/config.toml, when it exists]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -l no-manifest -d 'Do not read the kubeadm manifest, even where it exists'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -s q -l quiet -d 'Only print errors on stderr'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -s v -l verbose -d 'More detail on stderr (-vv for debug logs; RUST_LOG overrides)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -l no-config -d 'Read no config file, whatever --config says'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -l show-settings -d 'Print the resolved settings and where each comes from, then exit without doing anything'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -l max-age -d 'Exit 1 when the newest verified backup is older than this (e.g. 5h)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -s i -l identity -d 'age identity file (AGE-SECRET-KEY-1…, as age-keygen writes it, mode 0600) to decrypt encrypted backups; repeatable' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -l remote -d 'Off-site copies: s3://, gs://, az:// or file:// URL of a prefix' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -l remote-endpoint -d 'Endpoint of the store (S3-compatible, GCS or Azure)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -l remote-region -d 'Region [default: AWS_REGION, the profile\'s, else us-east-1]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -l remote-timeout -d 'Give up on one request to the store after this long' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -l remote-retries -d 'Retries of a failed request to the store' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -l endpoints -d 'etcd client URLs, comma-separated [default: from the manifest, else https://127.0.0.1:2379]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -l cacert -d 'CA bundle that signed etcd\'s serving certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/ca.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -l cert -d 'Client certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/server.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -l key -d 'Client private key [default: from the manifest, else /etc/kubernetes/pki/etcd/server.key]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -l backup-dir -d 'Directory holding the backups' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -l manifest -d 'kubeadm\'s etcd static pod manifest: the default is read where it exists, a path you name must exist' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -s w -l write-out -d 'Output format on stdout' -r -f -a "table\t''
json\t''
simple\t'One line, comma-separated (etcdutl\'s `simple`)'
fields\t'One `"Name" : value` line per field (etcdutl\'s `fields`)'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -l log-format -d 'Messages on stderr: text, or JSON lines for log shippers' -r -f -a "text\t'`etcd-backup: …`, `warning: …`, `error: …` lines for people and cron mails'
json\t'One JSON object per line: ts (RFC 3339, UTC), level (error, warn, info, debug), msg, and hint, causes and target where they apply'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -l metrics-file -d 'Write metrics of every save run here, for node-exporter\'s textfile collector' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -l config -d 'Read settings from this TOML file (it must exist) [default: /etc/etcd-backup/config.toml, when it exists]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -l no-manifest -d 'Do not read the kubeadm manifest, even where it exists'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -s q -l quiet -d 'Only print errors on stderr'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -s v -l verbose -d 'More detail on stderr (-vv for debug logs; RUST_LOG overrides)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -l no-config -d 'Read no config file, whatever --config says'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -l show-settings -d 'Print the resolved settings and where each comes from, then exit without doing anything'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand ls" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -l max-age -d 'Exit 1 when the newest verified backup is older than this (e.g. 5h)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -s i -l identity -d 'age identity file (AGE-SECRET-KEY-1…, as age-keygen writes it, mode 0600) to decrypt encrypted backups; repeatable' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -l remote -d 'Off-site copies: s3://, gs://, az:// or file:// URL of a prefix' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -l remote-endpoint -d 'Endpoint of the store (S3-compatible, GCS or Azure)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -l remote-region -d 'Region [default: AWS_REGION, the profile\'s, else us-east-1]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -l remote-timeout -d 'Give up on one request to the store after this long' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -l remote-retries -d 'Retries of a failed request to the store' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -l endpoints -d 'etcd client URLs, comma-separated [default: from the manifest, else https://127.0.0.1:2379]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -l cacert -d 'CA bundle that signed etcd\'s serving certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/ca.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -l cert -d 'Client certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/server.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -l key -d 'Client private key [default: from the manifest, else /etc/kubernetes/pki/etcd/server.key]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -l backup-dir -d 'Directory holding the backups' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -l manifest -d 'kubeadm\'s etcd static pod manifest: the default is read where it exists, a path you name must exist' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -s w -l write-out -d 'Output format on stdout' -r -f -a "table\t''
json\t''
simple\t'One line, comma-separated (etcdutl\'s `simple`)'
fields\t'One `"Name" : value` line per field (etcdutl\'s `fields`)'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -l log-format -d 'Messages on stderr: text, or JSON lines for log shippers' -r -f -a "text\t'`etcd-backup: …`, `warning: …`, `error: …` lines for people and cron mails'
json\t'One JSON object per line: ts (RFC 3339, UTC), level (error, warn, info, debug), msg, and hint, causes and target where they apply'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -l metrics-file -d 'Write metrics of every save run here, for node-exporter\'s textfile collector' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -l config -d 'Read settings from this TOML file (it must exist) [default: /etc/etcd-backup/config.toml, when it exists]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -l no-manifest -d 'Do not read the kubeadm manifest, even where it exists'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -s q -l quiet -d 'Only print errors on stderr'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -s v -l verbose -d 'More detail on stderr (-vv for debug logs; RUST_LOG overrides)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -l no-config -d 'Read no config file, whatever --config says'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -l show-settings -d 'Print the resolved settings and where each comes from, then exit without doing anything'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -s i -l identity -d 'age identity file (AGE-SECRET-KEY-1…, as age-keygen writes it, mode 0600) to decrypt encrypted backups; repeatable' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -l remote -d 'Off-site copies: s3://, gs://, az:// or file:// URL of a prefix' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -l remote-endpoint -d 'Endpoint of the store (S3-compatible, GCS or Azure)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -l remote-region -d 'Region [default: AWS_REGION, the profile\'s, else us-east-1]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -l remote-timeout -d 'Give up on one request to the store after this long' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -l remote-retries -d 'Retries of a failed request to the store' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -l endpoints -d 'etcd client URLs, comma-separated [default: from the manifest, else https://127.0.0.1:2379]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -l cacert -d 'CA bundle that signed etcd\'s serving certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/ca.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -l cert -d 'Client certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/server.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -l key -d 'Client private key [default: from the manifest, else /etc/kubernetes/pki/etcd/server.key]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -l backup-dir -d 'Directory holding the backups' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -l manifest -d 'kubeadm\'s etcd static pod manifest: the default is read where it exists, a path you name must exist' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -s w -l write-out -d 'Output format on stdout' -r -f -a "table\t''
json\t''
simple\t'One line, comma-separated (etcdutl\'s `simple`)'
fields\t'One `"Name" : value` line per field (etcdutl\'s `fields`)'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -l log-format -d 'Messages on stderr: text, or JSON lines for log shippers' -r -f -a "text\t'`etcd-backup: …`, `warning: …`, `error: …` lines for people and cron mails'
json\t'One JSON object per line: ts (RFC 3339, UTC), level (error, warn, info, debug), msg, and hint, causes and target where they apply'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -l metrics-file -d 'Write metrics of every save run here, for node-exporter\'s textfile collector' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -l config -d 'Read settings from this TOML file (it must exist) [default: /etc/etcd-backup/config.toml, when it exists]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -l latest -d 'Verify the newest backup in --backup-dir'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -l all -d 'Verify every backup in --backup-dir'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -l allow-no-hash -d 'Accept files without the SHA-256 trailer (raw member/snap/db copies)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -l no-manifest -d 'Do not read the kubeadm manifest, even where it exists'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -s q -l quiet -d 'Only print errors on stderr'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -s v -l verbose -d 'More detail on stderr (-vv for debug logs; RUST_LOG overrides)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -l no-config -d 'Read no config file, whatever --config says'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -l show-settings -d 'Print the resolved settings and where each comes from, then exit without doing anything'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l keep-last -d 'Keep the N newest backups' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l keep-days -d 'Keep backups taken in the last N days (N×24h) [default when no keep flag is given: 7]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l keep-within -d 'Keep backups taken within this long before now, e.g. 36h or 2w' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l keep-hourly -d 'Keep the newest backup of each of the last N hours (UTC) that have one' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l keep-daily -d 'Keep the newest backup of each of the last N days (UTC) that have one' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l keep-weekly -d 'Keep the newest backup of each of the last N ISO weeks (UTC) that have one' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l keep-monthly -d 'Keep the newest backup of each of the last N months (UTC) that have one' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -s i -l identity -d 'age identity file (AGE-SECRET-KEY-1…, as age-keygen writes it, mode 0600) to decrypt encrypted backups; repeatable' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l remote -d 'Off-site copies: s3://, gs://, az:// or file:// URL of a prefix' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l remote-endpoint -d 'Endpoint of the store (S3-compatible, GCS or Azure)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l remote-region -d 'Region [default: AWS_REGION, the profile\'s, else us-east-1]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l remote-timeout -d 'Give up on one request to the store after this long' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l remote-retries -d 'Retries of a failed request to the store' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l endpoints -d 'etcd client URLs, comma-separated [default: from the manifest, else https://127.0.0.1:2379]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l cacert -d 'CA bundle that signed etcd\'s serving certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/ca.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l cert -d 'Client certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/server.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l key -d 'Client private key [default: from the manifest, else /etc/kubernetes/pki/etcd/server.key]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l backup-dir -d 'Directory holding the backups' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l manifest -d 'kubeadm\'s etcd static pod manifest: the default is read where it exists, a path you name must exist' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -s w -l write-out -d 'Output format on stdout' -r -f -a "table\t''
json\t''
simple\t'One line, comma-separated (etcdutl\'s `simple`)'
fields\t'One `"Name" : value` line per field (etcdutl\'s `fields`)'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l log-format -d 'Messages on stderr: text, or JSON lines for log shippers' -r -f -a "text\t'`etcd-backup: …`, `warning: …`, `error: …` lines for people and cron mails'
json\t'One JSON object per line: ts (RFC 3339, UTC), level (error, warn, info, debug), msg, and hint, causes and target where they apply'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l metrics-file -d 'Write metrics of every save run here, for node-exporter\'s textfile collector' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l config -d 'Read settings from this TOML file (it must exist) [default: /etc/etcd-backup/config.toml, when it exists]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l keep-labeled -d 'Keep every labeled backup (save --label), whatever the rules say [the default]'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l prune-labeled -d 'Apply the rules to labeled backups too'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -s n -l dry-run -d 'Change nothing; list every file with "keep (rule)" or "delete"'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l no-manifest -d 'Do not read the kubeadm manifest, even where it exists'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -s q -l quiet -d 'Only print errors on stderr'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -s v -l verbose -d 'More detail on stderr (-vv for debug logs; RUST_LOG overrides)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l no-config -d 'Read no config file, whatever --config says'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -l show-settings -d 'Print the resolved settings and where each comes from, then exit without doing anything'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand prune" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l output-dir -d 'Data-dir mode: the data dir to create; must not exist, or be an empty directory. Without it, the node mode replaces the data dir of this kubeadm node\'s etcd' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l data-dir -d 'Node mode: the live data dir to replace; must be the one the manifest\'s etcd uses [default: from the manifest]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l manifests-dir -d 'Node mode: the static pod manifests dir' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l kubelet-service -d 'Node mode: the kubelet\'s systemd unit' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l stop-timeout -d 'Node mode: how long to wait for the old etcd to let go of its data dir (also on --resume)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l start-timeout -d 'Node mode: how long to wait for the restored etcd to become healthy (also on --resume)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l name -d 'This member\'s name [default: from the manifest, else "default"]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l initial-cluster -d 'Every member of the new cluster, NAME=URL[,NAME=URL..] [default: from the manifest, else NAME=<advertise URLs>]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l initial-advertise-peer-urls -d 'This member\'s peer URLs [default: from the manifest, else http://localhost:2380]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l initial-cluster-token -d 'The new cluster\'s token [default: from the manifest, else etcd-cluster]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l wal-dir -d 'Put the WAL here instead of <output-dir>/member/wal (start etcd with the same --wal-dir)' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l bump-revision -d 'Bump the revision by N instead of 1,000,000,000 (needs --mark-compacted, as with etcdutl)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -s i -l identity -d 'age identity file (AGE-SECRET-KEY-1…, as age-keygen writes it, mode 0600) to decrypt encrypted backups; repeatable' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l remote-endpoint -d 'Endpoint of the store (S3-compatible, GCS or Azure)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l remote-region -d 'Region [default: AWS_REGION, the profile\'s, else us-east-1]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l remote-timeout -d 'Give up on one request to the store after this long' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l remote-retries -d 'Retries of a failed request to the store' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l endpoints -d 'etcd client URLs, comma-separated [default: from the manifest, else https://127.0.0.1:2379]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l cacert -d 'CA bundle that signed etcd\'s serving certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/ca.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l cert -d 'Client certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/server.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l key -d 'Client private key [default: from the manifest, else /etc/kubernetes/pki/etcd/server.key]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l backup-dir -d 'Directory holding the backups' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l manifest -d 'kubeadm\'s etcd static pod manifest: the default is read where it exists, a path you name must exist' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -s w -l write-out -d 'Output format on stdout' -r -f -a "table\t''
json\t''
simple\t'One line, comma-separated (etcdutl\'s `simple`)'
fields\t'One `"Name" : value` line per field (etcdutl\'s `fields`)'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l log-format -d 'Messages on stderr: text, or JSON lines for log shippers' -r -f -a "text\t'`etcd-backup: …`, `warning: …`, `error: …` lines for people and cron mails'
json\t'One JSON object per line: ts (RFC 3339, UTC), level (error, warn, info, debug), msg, and hint, causes and target where they apply'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l metrics-file -d 'Write metrics of every save run here, for node-exporter\'s textfile collector' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l config -d 'Read settings from this TOML file (it must exist) [default: /etc/etcd-backup/config.toml, when it exists]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -s n -l dry-run -d 'Print the plan with every path and value (for --output-dir: what would be built where, and how a mount point is filled), change nothing'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -s y -l yes -d 'Node mode: do not ask (required without a terminal)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l resume -d 'Node mode: continue an interrupted restore from its journal'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l rollback -d 'Node mode: undo an interrupted restore from its journal (the old data dir back in place)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l skip-hash-check -d 'Accept a file without a SHA-256 trailer (a raw member/snap/db copy); a trailer that is present is still checked'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l skip-version-check -d 'Node mode: restore even when the snapshot\'s etcd storage version (3.6+) is newer than the etcd of the manifest\'s image, which etcd refuses to start on'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l mark-compacted -d 'Mark every revision up to the bumped one compacted (goes with --bump-revision)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l no-bump-revision -d 'Keep the snapshot\'s revision (clients with newer cached revisions may misbehave)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l keep-alarms -d 'Keep alarms stored in the snapshot (a NOSPACE alarm blocks writes until disarmed)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l no-manifest -d 'Do not read the kubeadm manifest, even where it exists'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -s q -l quiet -d 'Only print errors on stderr'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -s v -l verbose -d 'More detail on stderr (-vv for debug logs; RUST_LOG overrides)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l no-config -d 'Read no config file, whatever --config says'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -l show-settings -d 'Print the resolved settings and where each comes from, then exit without doing anything'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand restore" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -l etcd-binary -d 'etcd binary to start on the restored dir [default: `etcd` on PATH; without one, the start is skipped and said so]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -l drill-timeout -d 'How long the started etcd may take to answer' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -s i -l identity -d 'age identity file (AGE-SECRET-KEY-1…, as age-keygen writes it, mode 0600) to decrypt encrypted backups; repeatable' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -l remote -d 'Off-site copies: s3://, gs://, az:// or file:// URL of a prefix' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -l remote-endpoint -d 'Endpoint of the store (S3-compatible, GCS or Azure)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -l remote-region -d 'Region [default: AWS_REGION, the profile\'s, else us-east-1]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -l remote-timeout -d 'Give up on one request to the store after this long' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -l remote-retries -d 'Retries of a failed request to the store' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -l endpoints -d 'etcd client URLs, comma-separated [default: from the manifest, else https://127.0.0.1:2379]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -l cacert -d 'CA bundle that signed etcd\'s serving certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/ca.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -l cert -d 'Client certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/server.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -l key -d 'Client private key [default: from the manifest, else /etc/kubernetes/pki/etcd/server.key]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -l backup-dir -d 'Directory holding the backups' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -l manifest -d 'kubeadm\'s etcd static pod manifest: the default is read where it exists, a path you name must exist' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -s w -l write-out -d 'Output format on stdout' -r -f -a "table\t''
json\t''
simple\t'One line, comma-separated (etcdutl\'s `simple`)'
fields\t'One `"Name" : value` line per field (etcdutl\'s `fields`)'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -l log-format -d 'Messages on stderr: text, or JSON lines for log shippers' -r -f -a "text\t'`etcd-backup: …`, `warning: …`, `error: …` lines for people and cron mails'
json\t'One JSON object per line: ts (RFC 3339, UTC), level (error, warn, info, debug), msg, and hint, causes and target where they apply'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -l metrics-file -d 'Write metrics of every save run here, for node-exporter\'s textfile collector' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -l config -d 'Read settings from this TOML file (it must exist) [default: /etc/etcd-backup/config.toml, when it exists]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -l latest -d 'Rehearse the newest trusted backup of --backup-dir (or of --remote)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -l no-manifest -d 'Do not read the kubeadm manifest, even where it exists'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -s q -l quiet -d 'Only print errors on stderr'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -s v -l verbose -d 'More detail on stderr (-vv for debug logs; RUST_LOG overrides)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -l no-config -d 'Read no config file, whatever --config says'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -l show-settings -d 'Print the resolved settings and where each comes from, then exit without doing anything'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand drill" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand delete" -l endpoints -d 'etcd client URLs, comma-separated [default: from the manifest, else https://127.0.0.1:2379]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand delete" -l cacert -d 'CA bundle that signed etcd\'s serving certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/ca.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand delete" -l cert -d 'Client certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/server.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand delete" -l key -d 'Client private key [default: from the manifest, else /etc/kubernetes/pki/etcd/server.key]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand delete" -l backup-dir -d 'Directory holding the backups' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand delete" -l manifest -d 'kubeadm\'s etcd static pod manifest: the default is read where it exists, a path you name must exist' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand delete" -s w -l write-out -d 'Output format on stdout' -r -f -a "table\t''
json\t''
simple\t'One line, comma-separated (etcdutl\'s `simple`)'
fields\t'One `"Name" : value` line per field (etcdutl\'s `fields`)'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand delete" -l log-format -d 'Messages on stderr: text, or JSON lines for log shippers' -r -f -a "text\t'`etcd-backup: …`, `warning: …`, `error: …` lines for people and cron mails'
json\t'One JSON object per line: ts (RFC 3339, UTC), level (error, warn, info, debug), msg, and hint, causes and target where they apply'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand delete" -l metrics-file -d 'Write metrics of every save run here, for node-exporter\'s textfile collector' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand delete" -l config -d 'Read settings from this TOML file (it must exist) [default: /etc/etcd-backup/config.toml, when it exists]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand delete" -s n -l dry-run -d 'Change nothing; list what would be deleted'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand delete" -s y -l yes -d 'Do not ask (required without a terminal)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand delete" -l no-manifest -d 'Do not read the kubeadm manifest, even where it exists'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand delete" -s q -l quiet -d 'Only print errors on stderr'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand delete" -s v -l verbose -d 'More detail on stderr (-vv for debug logs; RUST_LOG overrides)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand delete" -l no-config -d 'Read no config file, whatever --config says'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand delete" -l show-settings -d 'Print the resolved settings and where each comes from, then exit without doing anything'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l dial-timeout -d 'Give up connecting to a member after this long (a member that does not answer in time counts as unreachable)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l stall-timeout -d 'Give up on a member that sends nothing for this long' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l timeout -d 'Give up when the whole check takes longer than this' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l repair-after -d 'How many failed checks in a row --repair waits for before it acts' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l state-dir -d 'Where --repair keeps its count of failed checks (health-repair.json, 0600)' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l manifests-dir -d 'The kubeadm manifests dir the kubelet watches (for the rejoin of --repair)' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l remote -d 'Off-site copies: s3://, gs://, az:// or file:// URL of a prefix' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l remote-endpoint -d 'Endpoint of the store (S3-compatible, GCS or Azure)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l remote-region -d 'Region [default: AWS_REGION, the profile\'s, else us-east-1]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l remote-timeout -d 'Give up on one request to the store after this long' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l remote-retries -d 'Retries of a failed request to the store' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l endpoints -d 'etcd client URLs, comma-separated [default: from the manifest, else https://127.0.0.1:2379]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l cacert -d 'CA bundle that signed etcd\'s serving certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/ca.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l cert -d 'Client certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/server.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l key -d 'Client private key [default: from the manifest, else /etc/kubernetes/pki/etcd/server.key]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l backup-dir -d 'Directory holding the backups' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l manifest -d 'kubeadm\'s etcd static pod manifest: the default is read where it exists, a path you name must exist' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -s w -l write-out -d 'Output format on stdout' -r -f -a "table\t''
json\t''
simple\t'One line, comma-separated (etcdutl\'s `simple`)'
fields\t'One `"Name" : value` line per field (etcdutl\'s `fields`)'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l log-format -d 'Messages on stderr: text, or JSON lines for log shippers' -r -f -a "text\t'`etcd-backup: …`, `warning: …`, `error: …` lines for people and cron mails'
json\t'One JSON object per line: ts (RFC 3339, UTC), level (error, warn, info, debug), msg, and hint, causes and target where they apply'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l metrics-file -d 'Write metrics of every save run here, for node-exporter\'s textfile collector' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l config -d 'Read settings from this TOML file (it must exist) [default: /etc/etcd-backup/config.toml, when it exists]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l repair -d 'Act on the verdict for this node (opt-in; for a timer on every control-plane node)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l no-manifest -d 'Do not read the kubeadm manifest, even where it exists'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -s q -l quiet -d 'Only print errors on stderr'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -s v -l verbose -d 'More detail on stderr (-vv for debug logs; RUST_LOG overrides)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l no-config -d 'Read no config file, whatever --config says'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -l show-settings -d 'Print the resolved settings and where each comes from, then exit without doing anything'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand health" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -l revision -d 'The state as of this revision (after the compacted one); default the newest' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -l top -d 'Largest objects listed per resource' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -s i -l identity -d 'age identity file (AGE-SECRET-KEY-1…, as age-keygen writes it, mode 0600) to decrypt encrypted backups; repeatable' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -l remote-endpoint -d 'Endpoint of the store (S3-compatible, GCS or Azure)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -l remote-region -d 'Region [default: AWS_REGION, the profile\'s, else us-east-1]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -l remote-timeout -d 'Give up on one request to the store after this long' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -l remote-retries -d 'Retries of a failed request to the store' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -l endpoints -d 'etcd client URLs, comma-separated [default: from the manifest, else https://127.0.0.1:2379]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -l cacert -d 'CA bundle that signed etcd\'s serving certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/ca.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -l cert -d 'Client certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/server.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -l key -d 'Client private key [default: from the manifest, else /etc/kubernetes/pki/etcd/server.key]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -l backup-dir -d 'Directory holding the backups' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -l manifest -d 'kubeadm\'s etcd static pod manifest: the default is read where it exists, a path you name must exist' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -s w -l write-out -d 'Output format on stdout' -r -f -a "table\t''
json\t''
simple\t'One line, comma-separated (etcdutl\'s `simple`)'
fields\t'One `"Name" : value` line per field (etcdutl\'s `fields`)'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -l log-format -d 'Messages on stderr: text, or JSON lines for log shippers' -r -f -a "text\t'`etcd-backup: …`, `warning: …`, `error: …` lines for people and cron mails'
json\t'One JSON object per line: ts (RFC 3339, UTC), level (error, warn, info, debug), msg, and hint, causes and target where they apply'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -l metrics-file -d 'Write metrics of every save run here, for node-exporter\'s textfile collector' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -l config -d 'Read settings from this TOML file (it must exist) [default: /etc/etcd-backup/config.toml, when it exists]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -l no-manifest -d 'Do not read the kubeadm manifest, even where it exists'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -s q -l quiet -d 'Only print errors on stderr'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -s v -l verbose -d 'More detail on stderr (-vv for debug logs; RUST_LOG overrides)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -l no-config -d 'Read no config file, whatever --config says'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -l show-settings -d 'Print the resolved settings and where each comes from, then exit without doing anything'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand inspect" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l prefix -d 'Only keys that start with this (as `etcdctl get P --prefix`)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l revision -d 'The state as of this revision (after the compacted one), as `etcdctl get --rev R`' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l manifests -d 'Write kind/namespace/name.yaml files ready for `kubectl apply` into DIR (new or empty), server-set fields and status stripped, instead of lines on stdout' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l namespace -d 'Only objects in this namespace (and the Namespace itself)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l resource -d 'Only objects of this resource: pods, deployments.apps, or the kind' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l name -d 'Only objects of this name' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -s i -l identity -d 'age identity file (AGE-SECRET-KEY-1…, as age-keygen writes it, mode 0600) to decrypt encrypted backups; repeatable' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l remote-endpoint -d 'Endpoint of the store (S3-compatible, GCS or Azure)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l remote-region -d 'Region [default: AWS_REGION, the profile\'s, else us-east-1]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l remote-timeout -d 'Give up on one request to the store after this long' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l remote-retries -d 'Retries of a failed request to the store' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l endpoints -d 'etcd client URLs, comma-separated [default: from the manifest, else https://127.0.0.1:2379]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l cacert -d 'CA bundle that signed etcd\'s serving certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/ca.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l cert -d 'Client certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/server.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l key -d 'Client private key [default: from the manifest, else /etc/kubernetes/pki/etcd/server.key]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l backup-dir -d 'Directory holding the backups' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l manifest -d 'kubeadm\'s etcd static pod manifest: the default is read where it exists, a path you name must exist' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -s w -l write-out -d 'Output format on stdout' -r -f -a "table\t''
json\t''
simple\t'One line, comma-separated (etcdutl\'s `simple`)'
fields\t'One `"Name" : value` line per field (etcdutl\'s `fields`)'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l log-format -d 'Messages on stderr: text, or JSON lines for log shippers' -r -f -a "text\t'`etcd-backup: …`, `warning: …`, `error: …` lines for people and cron mails'
json\t'One JSON object per line: ts (RFC 3339, UTC), level (error, warn, info, debug), msg, and hint, causes and target where they apply'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l metrics-file -d 'Write metrics of every save run here, for node-exporter\'s textfile collector' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l config -d 'Read settings from this TOML file (it must exist) [default: /etc/etcd-backup/config.toml, when it exists]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l decode -d 'Add the Kubernetes object to each line ("decoded": kubectl\'s JSON; encrypted values named by provider and key, never decoded)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l no-manifest -d 'Do not read the kubeadm manifest, even where it exists'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -s q -l quiet -d 'Only print errors on stderr'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -s v -l verbose -d 'More detail on stderr (-vv for debug logs; RUST_LOG overrides)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l no-config -d 'Read no config file, whatever --config says'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -l show-settings -d 'Print the resolved settings and where each comes from, then exit without doing anything'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l prefix -d 'Only keys that start with this' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l dial-timeout -d 'Give up connecting to etcd after this long (--live)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l stall-timeout -d 'Give up on etcd when it sends nothing for this long (--live)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l timeout -d 'Give up when the live read takes longer than this (--live)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -s i -l identity -d 'age identity file (AGE-SECRET-KEY-1…, as age-keygen writes it, mode 0600) to decrypt encrypted backups; repeatable' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l remote-endpoint -d 'Endpoint of the store (S3-compatible, GCS or Azure)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l remote-region -d 'Region [default: AWS_REGION, the profile\'s, else us-east-1]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l remote-timeout -d 'Give up on one request to the store after this long' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l remote-retries -d 'Retries of a failed request to the store' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l endpoints -d 'etcd client URLs, comma-separated [default: from the manifest, else https://127.0.0.1:2379]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l cacert -d 'CA bundle that signed etcd\'s serving certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/ca.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l cert -d 'Client certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/server.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l key -d 'Client private key [default: from the manifest, else /etc/kubernetes/pki/etcd/server.key]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l backup-dir -d 'Directory holding the backups' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l manifest -d 'kubeadm\'s etcd static pod manifest: the default is read where it exists, a path you name must exist' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -s w -l write-out -d 'Output format on stdout' -r -f -a "table\t''
json\t''
simple\t'One line, comma-separated (etcdutl\'s `simple`)'
fields\t'One `"Name" : value` line per field (etcdutl\'s `fields`)'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l log-format -d 'Messages on stderr: text, or JSON lines for log shippers' -r -f -a "text\t'`etcd-backup: …`, `warning: …`, `error: …` lines for people and cron mails'
json\t'One JSON object per line: ts (RFC 3339, UTC), level (error, warn, info, debug), msg, and hint, causes and target where they apply'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l metrics-file -d 'Write metrics of every save run here, for node-exporter\'s textfile collector' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l config -d 'Read settings from this TOML file (it must exist) [default: /etc/etcd-backup/config.toml, when it exists]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l live -d 'Compare with the live etcd (--endpoints, --cacert, --cert, --key)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l no-manifest -d 'Do not read the kubeadm manifest, even where it exists'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -s q -l quiet -d 'Only print errors on stderr'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -s v -l verbose -d 'More detail on stderr (-vv for debug logs; RUST_LOG overrides)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l no-config -d 'Read no config file, whatever --config says'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -l show-settings -d 'Print the resolved settings and where each comes from, then exit without doing anything'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand diff" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and not __fish_seen_subcommand_from rejoin help" -l endpoints -d 'etcd client URLs, comma-separated [default: from the manifest, else https://127.0.0.1:2379]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and not __fish_seen_subcommand_from rejoin help" -l cacert -d 'CA bundle that signed etcd\'s serving certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/ca.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and not __fish_seen_subcommand_from rejoin help" -l cert -d 'Client certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/server.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and not __fish_seen_subcommand_from rejoin help" -l key -d 'Client private key [default: from the manifest, else /etc/kubernetes/pki/etcd/server.key]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and not __fish_seen_subcommand_from rejoin help" -l backup-dir -d 'Directory holding the backups' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and not __fish_seen_subcommand_from rejoin help" -l manifest -d 'kubeadm\'s etcd static pod manifest: the default is read where it exists, a path you name must exist' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and not __fish_seen_subcommand_from rejoin help" -s w -l write-out -d 'Output format on stdout' -r -f -a "table\t''
json\t''
simple\t'One line, comma-separated (etcdutl\'s `simple`)'
fields\t'One `"Name" : value` line per field (etcdutl\'s `fields`)'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and not __fish_seen_subcommand_from rejoin help" -l log-format -d 'Messages on stderr: text, or JSON lines for log shippers' -r -f -a "text\t'`etcd-backup: …`, `warning: …`, `error: …` lines for people and cron mails'
json\t'One JSON object per line: ts (RFC 3339, UTC), level (error, warn, info, debug), msg, and hint, causes and target where they apply'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and not __fish_seen_subcommand_from rejoin help" -l metrics-file -d 'Write metrics of every save run here, for node-exporter\'s textfile collector' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and not __fish_seen_subcommand_from rejoin help" -l config -d 'Read settings from this TOML file (it must exist) [default: /etc/etcd-backup/config.toml, when it exists]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and not __fish_seen_subcommand_from rejoin help" -l no-manifest -d 'Do not read the kubeadm manifest, even where it exists'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and not __fish_seen_subcommand_from rejoin help" -s q -l quiet -d 'Only print errors on stderr'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and not __fish_seen_subcommand_from rejoin help" -s v -l verbose -d 'More detail on stderr (-vv for debug logs; RUST_LOG overrides)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and not __fish_seen_subcommand_from rejoin help" -l no-config -d 'Read no config file, whatever --config says'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and not __fish_seen_subcommand_from rejoin help" -l show-settings -d 'Print the resolved settings and where each comes from, then exit without doing anything'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and not __fish_seen_subcommand_from rejoin help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and not __fish_seen_subcommand_from rejoin help" -f -a "rejoin" -d 'Replace this node\'s broken member with a fresh copy of the cluster\'s data'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and not __fish_seen_subcommand_from rejoin help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -l manifests-dir -d 'The kubeadm manifests dir the kubelet watches' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -l dial-timeout -d 'Give up connecting to a member after this long' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -l stop-timeout -d 'How long to wait for this node\'s etcd to let go of its data dir (also on --resume)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -l start-timeout -d 'How long to wait for the member to catch up, be promoted and agree with the others (also on --resume)' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -l endpoints -d 'etcd client URLs, comma-separated [default: from the manifest, else https://127.0.0.1:2379]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -l cacert -d 'CA bundle that signed etcd\'s serving certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/ca.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -l cert -d 'Client certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/server.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -l key -d 'Client private key [default: from the manifest, else /etc/kubernetes/pki/etcd/server.key]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -l backup-dir -d 'Directory holding the backups' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -l manifest -d 'kubeadm\'s etcd static pod manifest: the default is read where it exists, a path you name must exist' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -s w -l write-out -d 'Output format on stdout' -r -f -a "table\t''
json\t''
simple\t'One line, comma-separated (etcdutl\'s `simple`)'
fields\t'One `"Name" : value` line per field (etcdutl\'s `fields`)'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -l log-format -d 'Messages on stderr: text, or JSON lines for log shippers' -r -f -a "text\t'`etcd-backup: …`, `warning: …`, `error: …` lines for people and cron mails'
json\t'One JSON object per line: ts (RFC 3339, UTC), level (error, warn, info, debug), msg, and hint, causes and target where they apply'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -l metrics-file -d 'Write metrics of every save run here, for node-exporter\'s textfile collector' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -l config -d 'Read settings from this TOML file (it must exist) [default: /etc/etcd-backup/config.toml, when it exists]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -s n -l dry-run -d 'Print the plan, change nothing'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -s y -l yes -d 'Do not ask (required without a terminal)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -l resume -d 'Continue an interrupted rejoin from its journal'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -l rollback -d 'Undo an interrupted rejoin from its journal (old data dir and manifest back)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -l no-manifest -d 'Do not read the kubeadm manifest, even where it exists'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -s q -l quiet -d 'Only print errors on stderr'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -s v -l verbose -d 'More detail on stderr (-vv for debug logs; RUST_LOG overrides)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -l no-config -d 'Read no config file, whatever --config says'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -l show-settings -d 'Print the resolved settings and where each comes from, then exit without doing anything'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from rejoin" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from help" -f -a "rejoin" -d 'Replace this node\'s broken member with a fresh copy of the cluster\'s data'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand member; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand completions" -l endpoints -d 'etcd client URLs, comma-separated [default: from the manifest, else https://127.0.0.1:2379]' -r
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand completions" -l cacert -d 'CA bundle that signed etcd\'s serving certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/ca.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand completions" -l cert -d 'Client certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/server.crt]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand completions" -l key -d 'Client private key [default: from the manifest, else /etc/kubernetes/pki/etcd/server.key]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand completions" -l backup-dir -d 'Directory holding the backups' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand completions" -l manifest -d 'kubeadm\'s etcd static pod manifest: the default is read where it exists, a path you name must exist' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand completions" -s w -l write-out -d 'Output format on stdout' -r -f -a "table\t''
json\t''
simple\t'One line, comma-separated (etcdutl\'s `simple`)'
fields\t'One `"Name" : value` line per field (etcdutl\'s `fields`)'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand completions" -l log-format -d 'Messages on stderr: text, or JSON lines for log shippers' -r -f -a "text\t'`etcd-backup: …`, `warning: …`, `error: …` lines for people and cron mails'
json\t'One JSON object per line: ts (RFC 3339, UTC), level (error, warn, info, debug), msg, and hint, causes and target where they apply'"
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand completions" -l metrics-file -d 'Write metrics of every save run here, for node-exporter\'s textfile collector' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand completions" -l config -d 'Read settings from this TOML file (it must exist) [default: /etc/etcd-backup/config.toml, when it exists]' -r -F
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand completions" -l no-manifest -d 'Do not read the kubeadm manifest, even where it exists'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand completions" -s q -l quiet -d 'Only print errors on stderr'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand completions" -s v -l verbose -d 'More detail on stderr (-vv for debug logs; RUST_LOG overrides)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand completions" -l no-config -d 'Read no config file, whatever --config says'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand completions" -l show-settings -d 'Print the resolved settings and where each comes from, then exit without doing anything'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand help; and not __fish_seen_subcommand_from save status verify prune restore drill delete health inspect export diff member completions help" -f -a "save" -d 'Stream a snapshot from etcd into a new, checked backup file'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand help; and not __fish_seen_subcommand_from save status verify prune restore drill delete health inspect export diff member completions help" -f -a "status" -d 'Show a snapshot\'s hash, revision, keys and size, or the state of the backup set'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand help; and not __fish_seen_subcommand_from save status verify prune restore drill delete health inspect export diff member completions help" -f -a "verify" -d 'Prove snapshot files intact and restorable'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand help; and not __fish_seen_subcommand_from save status verify prune restore drill delete health inspect export diff member completions help" -f -a "prune" -d 'Delete old backups by retention rules; never the newest good one'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand help; and not __fish_seen_subcommand_from save status verify prune restore drill delete health inspect export diff member completions help" -f -a "restore" -d 'Restore a snapshot: this kubeadm node\'s etcd, or a new data dir (--output-dir)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand help; and not __fish_seen_subcommand_from save status verify prune restore drill delete health inspect export diff member completions help" -f -a "drill" -d 'Rehearse a restore: build the backup\'s data dir in a scratch dir, read it back, start etcd'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand help; and not __fish_seen_subcommand_from save status verify prune restore drill delete health inspect export diff member completions help" -f -a "delete" -d 'Delete the named backups, with the same safety rules as prune'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand help; and not __fish_seen_subcommand_from save status verify prune restore drill delete health inspect export diff member completions help" -f -a "health" -d 'Check every member of the cluster, whether they agree on the data, and what to do'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand help; and not __fish_seen_subcommand_from save status verify prune restore drill delete health inspect export diff member completions help" -f -a "inspect" -d 'What a backup holds: revisions, keys, members, leases, and per Kubernetes resource'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand help; and not __fish_seen_subcommand_from save status verify prune restore drill delete health inspect export diff member completions help" -f -a "export" -d 'Print a backup\'s keys as `etcdctl get -w json` would, one JSON object per line'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand help; and not __fish_seen_subcommand_from save status verify prune restore drill delete health inspect export diff member completions help" -f -a "diff" -d 'What changed between two backups, or between a backup and the live etcd (--live)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand help; and not __fish_seen_subcommand_from save status verify prune restore drill delete health inspect export diff member completions help" -f -a "member" -d 'Replace this node\'s broken etcd member: remove it, re-add it, let it copy the data'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand help; and not __fish_seen_subcommand_from save status verify prune restore drill delete health inspect export diff member completions help" -f -a "completions" -d 'Print the shell completion script for bash, zsh or fish on stdout'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand help; and not __fish_seen_subcommand_from save status verify prune restore drill delete health inspect export diff member completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand help; and __fish_seen_subcommand_from member" -f -a "rejoin" -d 'Replace this node\'s broken member with a fresh copy of the cluster\'s data'
complete -c etcd-backup -n "__fish_etcd_backup_using_subcommand completions" -f -a "bash zsh fish"
