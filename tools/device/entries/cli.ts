/**
 * The `amodal3r` command line as a device bundle (tools/device/prepare.sh bundles every file here), e.g.
 *   node .device/bundle/tools-device-entries-cli.mjs make-test-model --config full --out /tmp/full --device webgpu
 * Needs sharp on the device for the image commands (tools/device/bench-pipeline.sh unpacks .device/sharp.tar.xz).
 *
 * src/cli/main.ts runs the program itself when its file is the one node was started with; bundled, that file is
 * this bundle, so importing it is enough (calling `main` here as well would run every command twice).
 */

import '../../../src/cli/main.ts';
