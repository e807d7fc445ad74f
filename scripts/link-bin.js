// Links bin/sous into node_modules/.bin, so `npx sous` in a clone runs this checkout's CLI.
// package.json declares no `bin` on purpose: npm 11 answers `npx <own bin>` by installing the
// project into its npx cache, which needs the project's install scripts approved and then keeps
// running that stale copy after the sources change. The link runs the checkout itself.
import { chmodSync, mkdirSync, rmSync, symlinkSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const binDir = join(root, "node_modules", ".bin")
const target = join(root, "bin", "sous")
mkdirSync(binDir, { recursive: true })
rmSync(join(binDir, "sous"), { force: true })
symlinkSync(relative(binDir, target), join(binDir, "sous"))
chmodSync(target, 0o755)
