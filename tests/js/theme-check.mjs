// Lints liquid_snippets/*.liquid with Shopify's theme linter (@shopify/theme-check-node).
//
// The package has no CLI, so this builds a throwaway theme: every snippet under
// snippets/, and a layout/theme.liquid that renders each one with the `{% render %}`
// line of its Usage header (so the documented usage is linted too, and no snippet is
// orphaned). Runs the recommended checks and exits 1 on any offense, of any severity.
//
// Offline and deterministic: the linter would fetch Shopify's latest Liquid docs;
// pointing SHOPIFY_TLD_ROOT at an empty folder makes it use the docs bundled with the
// locked package version instead.
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const SNIPPETS = path.join(ROOT, 'liquid_snippets')
const SEVERITY = ['error', 'warning', 'info']

function usageLine (name, source) {
  const header = source.match(/\{%-?\s*comment\s*-?%\}([\s\S]*?)\{%-?\s*endcomment\s*-?%\}/)
  const usage = header && header[1].match(/Usage:\s*\n\s*(\{%-?\s*render\s+'([^']+)'[\s\S]*?%\})/)
  if (!usage) throw new Error(`${name}: no Usage: {% render %} line in the header comment`)
  if (usage[2] !== path.basename(name, '.liquid')) throw new Error(`${name}: the Usage line renders '${usage[2]}'`)
  return usage[1]
}

async function buildTheme (dir) {
  const names = (await readdir(SNIPPETS)).filter((name) => name.endsWith('.liquid')).sort()
  if (names.length === 0) throw new Error('no snippets to lint')
  await mkdir(path.join(dir, 'snippets'))
  await mkdir(path.join(dir, 'layout'))
  const renders = []
  for (const name of names) {
    const source = await readFile(path.join(SNIPPETS, name), 'utf8')
    await writeFile(path.join(dir, 'snippets', name), source)
    renders.push(`    ${usageLine(name, source)}`)
  }
  const layout = [
    '<!doctype html>',
    '<html lang="{{ request.locale.iso_code }}">',
    '  <head>',
    '    <title>{{ page_title }}</title>',
    '    {{ content_for_header }}',
    '  </head>',
    '  <body>',
    '    {{ content_for_layout }}',
    ...renders,
    '  </body>',
    '</html>',
    ''
  ].join('\n')
  await writeFile(path.join(dir, 'layout', 'theme.liquid'), layout)
  await mkdir(path.join(dir, 'locales'))
  await writeFile(path.join(dir, 'locales', 'en.default.json'), '{}\n')
  await writeFile(path.join(dir, '.theme-check.yml'), 'extends: theme-check:recommended\n')
  return names
}

async function main () {
  const dir = await mkdtemp(path.join(tmpdir(), 'shapes-theme-check-'))
  try {
    process.env.SHOPIFY_TLD_ROOT = path.join(dir, 'no-remote-docs')
    process.env.XDG_CACHE_HOME = path.join(dir, 'cache') // where the linter caches docs
    // Loaded after the environment is set: the docs location is read at load time.
    const { themeCheckRun } = createRequire(import.meta.url)('@shopify/theme-check-node')

    const names = await buildTheme(dir)
    const { theme, offenses } = await themeCheckRun(dir, path.join(dir, '.theme-check.yml'))
    const checked = theme.map((file) => path.basename(file.uri)).filter((name) => names.includes(name))
    if (checked.length !== names.length) throw new Error(`checked ${checked.length} of ${names.length} snippets`)

    for (const offense of offenses) {
      const file = path.relative(dir, fileURLToPath(offense.uri))
      const where = `${file}:${offense.start.line + 1}:${offense.start.character + 1}`
      console.log(`${where} ${SEVERITY[offense.severity] || offense.severity} ${offense.check}: ${offense.message}`)
    }
    console.log(`theme-check: ${names.length} snippet(s), ${offenses.length} offense(s)`)
    return offenses.length === 0 ? 0 : 1
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    console.error(`theme-check: ${err.stack || err}`)
    process.exitCode = 2
  }
)
