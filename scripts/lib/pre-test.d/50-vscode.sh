# shellcheck shell=bash
# Sourced by scripts/test before pytest: installs what the VS Code end-to-end test needs (Node 24,
# code-server + playwright-core cached in $MICROSTAX_CACHE, Debian's Chromium) and packages the
# extension. Exports MICROSTAX_VSIX, MICROSTAX_NODE24, MICROSTAX_VSCODE_E2E_DIR,
# MICROSTAX_CODE_SERVER and MICROSTAX_CHROMIUM for tests/e2e/vscode/.
# shellcheck source=../vscode.sh
source "$(dirname "${BASH_SOURCE[0]}")/../vscode.sh"
microstax_vscode_setup
