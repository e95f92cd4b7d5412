#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test.
# Installs what the tests need and the machine lacks (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
apt_install() {
    if [ "$(id -u)" = 0 ] && need apt-get; then
        echo "test.sh: installing $*" >&2
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    else
        echo "test.sh: $* missing and cannot be installed here (not root, or no apt-get)" >&2
    fi
}
need python3 || apt_install python3
# The publishing tests push to an rsync daemon and check with sha256sum/md5sum.
need rsync || apt_install rsync
# The status page is checked in a real browser (tests/cli/status.rs):
# headless Chromium, Debian's package.
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || apt_install chromium
# A published repo is read by a real client: packages built with rpmbuild,
# metadata by createrepo_c, listed by dnf (tests/cli/publish.rs).
need rpmbuild || apt_install rpm
need createrepo_c || apt_install createrepo-c
need dnf || apt_install dnf dnf-plugins-core
# A remote image tree is reached over ssh: an sshd on 127.0.0.1
# (tests/cli/remote_images.rs).
[ -x /usr/sbin/sshd ] || apt_install openssh-server
# Jobs on Slurm run on a real single-node cluster the tests start
# (tests/cli/slurm.rs): Debian's slurm-wlm and munge.
{ [ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ] && [ -x /usr/sbin/munged ] && need sbatch; } \
    || apt_install slurm-wlm munge
# Container promotions run against real registries the tests start
# (tests/cli/containers.rs); skopeo is the baseline of
# scripts/bench-containers.sh.
[ -x /usr/bin/docker-registry ] || apt_install docker-registry
need skopeo || apt_install skopeo

# The dlrnapi commands are compared with the real DLRN 0.26.1 API and
# dlrnapi client (tests/cli/dlrn_diff.rs), from PyPI, in a venv.
export DLRN_VENV="${DLRN_VENV:-/tmp/dlrn-venv}"
scripts/bench/setup-dlrn.sh "$DLRN_VENV" >&2

echo "== cargo fmt --check" >&2
cargo fmt --check
echo "== cargo clippy --all-targets -- -D warnings" >&2
cargo clippy --quiet --all-targets -- -D warnings
cargo clippy --quiet --all-targets --features fault -- -D warnings
# The crash tests kill the binary at each recorded step through its crash
# hook, which only a build with the `fault` feature has.
echo "== cargo test --features fault" >&2
cargo test --quiet --features fault
