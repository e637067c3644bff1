/**
 * `pnpm build`'s last step: the `transship` command as ESM files in packages/cli/dist/, the
 * entry `main.js` (the package's `bin`) and the chunks it imports, with every @transship
 * package and every pure-JavaScript dependency inside. What the code imports lazily (@transship/core, dockerode,
 * the transports, the S3 SDK) is split into chunks of its own, so that `transship --help`
 * loads none of it. ssh2 and zstd-napi stay outside, dependencies of the packed CLI: their
 * native bindings are built at install. The helper programs, built for each architecture this
 * machine can, go beside the chunks.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'esbuild'
import { CLI_DIR, HELPER_ARCHES, HELPER_DIR, nativeArch, ROOT } from './paths.js'

const OUT_DIR = join(CLI_DIR, 'dist')

/** Left out of the bundle: dependencies of the packed CLI (their versions pinned at pack time). */
const EXTERNAL = ['ssh2', 'zstd-napi']

async function bundle(): Promise<void> {
  rmSync(OUT_DIR, { recursive: true, force: true })
  await build({
    absWorkingDir: ROOT,
    entryPoints: { main: join(CLI_DIR, 'src/main.ts') },
    outdir: OUT_DIR,
    // Every output file lands directly in dist/: the CLI reads its version from
    // `../package.json` and @transship/helper finds its programs in `../dist/`, both relative
    // to the module's own URL, as from a package's src/.
    chunkNames: '[name]-[hash]',
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20.19',
    external: EXTERNAL,
    // Smaller and faster to parse, with the names kept: stack traces stay readable.
    minifyWhitespace: true,
    minifySyntax: true,
    // The dependencies' license notices, kept at the end of each file they come from.
    legalComments: 'eof',
    // The bundled CommonJS dependencies call `require`, which an ES module lacks.
    banner: {
      js: "import { createRequire as __transshipRequire } from 'node:module'; const require = __transshipRequire(import.meta.url);",
    },
    logLevel: 'warning',
  })
}

/**
 * Builds the helper program for each architecture this machine can (build.sh rebuilds only
 * what a source change made stale) and copies it next to the bundle: this machine's is
 * required, the other needs its cross compiler and is left out without one.
 *
 * @return the programs' file names.
 */
function buildHelperPrograms(): string[] {
  const programs: string[] = []
  for (const arch of HELPER_ARCHES) {
    const built = spawnSync('sh', [join(HELPER_DIR, 'build.sh'), arch], { encoding: 'utf8' })
    const program = `transship-helper-linux-${arch}`
    if (built.status === 0) {
      copyFileSync(join(HELPER_DIR, 'dist', program), join(OUT_DIR, program))
      programs.push(program)
    } else if (arch === nativeArch()) {
      throw new Error(`the helper program did not build: ${built.stderr.trim()}`)
    } else {
      process.stderr.write(`no ${arch} helper program in the bundle: ${built.stderr.trim()}\n`)
    }
  }
  return programs
}

/** Runs the bundle once: it loads, and prints the version its package.json holds. */
function checkVersion(): void {
  const { version } = JSON.parse(readFileSync(join(CLI_DIR, 'package.json'), 'utf8')) as {
    version: string
  }
  const printed = execFileSync(process.execPath, [join(OUT_DIR, 'main.js'), '--version'], {
    encoding: 'utf8',
  }).trim()
  if (printed !== version) {
    throw new Error(`the bundle printed version ${JSON.stringify(printed)}, expected ${version}`)
  }
}

await bundle()
const programs = buildHelperPrograms()
checkVersion()
process.stdout.write(`bundled ${join(OUT_DIR, 'main.js')}, with ${programs.join(', ')}\n`)
