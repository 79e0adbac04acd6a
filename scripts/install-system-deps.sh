#!/usr/bin/env bash
# System packages the test suite needs that pip cannot provide.
#
# The triage browser tests drive Debian's headless Chromium (/usr/bin/chromium) with
# Playwright's `executable_path`; Playwright's own browser download is never used
# (no network beyond the package registries). Installs only what is missing, so the
# Makefile can call this before every test run at no cost. The emoji font makes the
# screenshots show posts' emoji instead of empty boxes.
set -euo pipefail

EMOJI_FONT=/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
if [ ! -x /usr/bin/chromium ] || [ ! -f "$EMOJI_FONT" ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core fonts-noto-color-emoji
fi
