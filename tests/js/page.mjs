// A browser page for the classic script, in its own realm (node:vm): its own global
// object, window events, document, localStorage and fetch. Each test builds a new one,
// so nothing a page defines (window.ShapesToken) leaks into the next.
import { readFileSync } from 'node:fs'
import vm from 'node:vm'

import { MemoryStorage, stubFetch } from './helpers.mjs'

const ROOT = new URL('../../', import.meta.url)
export const SCRIPT = readFileSync(new URL('static/js/shapes-token.js', ROOT), 'utf8')
const SNIPPET = readFileSync(new URL('liquid_snippets/shapes-token.liquid', ROOT), 'utf8')

/** The snippet's inline placeholder script, exactly as it renders (it holds no Liquid). */
export const PLACEHOLDER = (() => {
  const match = SNIPPET.match(/<script>\n([\s\S]*?)<\/script>/)
  if (!match || /\{[{%]/.test(match[1])) throw new Error('no Liquid-free inline <script> in the snippet')
  return match[1]
})()

/** What the config tag of the snippet holds for a customer (overrides merge in). */
export function customerConfig (overrides = {}) {
  return {
    customerId: '123',
    signature: 'b'.repeat(64),
    ts: null,
    endpoint: 'https://tokens.example.com/v1/shops/acme.myshopify.com/customer-token',
    mode: 'signed',
    apiOrigins: null,
    guestClientId: null,
    guestEndpoint: null,
    dpop: null,
    ...overrides
  }
}

export function configTag (config, { tagName = 'SCRIPT', type = 'application/json' } = {}) {
  return { tagName, type, textContent: typeof config === 'string' ? config : JSON.stringify(config) }
}

/**
 * A page: `elements` are what `[id="shapes-token-config"]` matches; `readyState` is the
 * document's ('loading' until `page.parsed()`). Records window events by type. Without
 * `crypto` and `indexedDB` (DPoP's needs) it is a page that has neither.
 */
export function makePage ({ elements = [], readyState = 'complete', storage = new MemoryStorage(), fetch = stubFetch(), origin = 'https://www.acme.com', crypto, indexedDB } = {}) {
  const window = new EventTarget()
  const document = new EventTarget()
  document.readyState = readyState
  document.visibilityState = 'visible'
  document.elements = elements
  document.querySelectorAll = (selector) => {
    if (selector !== '[id="shapes-token-config"]') throw new Error(`unexpected selector ${selector}`)
    return document.elements
  }
  const events = []
  window.addEventListener('shapes-token:change', (event) => events.push({ ...event.detail })) // a copy in this realm
  const errors = []
  const sandbox = {
    document,
    localStorage: storage,
    fetch,
    location: { href: `${origin}/products/x`, origin },
    navigator: {},
    console: { error: (...args) => errors.push(args.join(' ')), log () {}, warn () {} },
    addEventListener: window.addEventListener.bind(window),
    removeEventListener: window.removeEventListener.bind(window),
    dispatchEvent: window.dispatchEvent.bind(window),
    setTimeout,
    clearTimeout,
    atob,
    btoa,
    TextDecoder,
    TextEncoder,
    URL,
    URLSearchParams,
    Headers,
    Request,
    Response,
    Event,
    CustomEvent
  }
  if (crypto) sandbox.crypto = crypto
  if (indexedDB) sandbox.indexedDB = indexedDB
  const context = vm.createContext(sandbox)
  context.window = context // in a page, `window` is the global object
  return {
    context,
    document,
    storage,
    fetch,
    events,
    errors,
    /** Runs a classic script in the page, as a <script> element would. */
    run (source = SCRIPT) {
      vm.runInContext(source, context)
    },
    /** The parser reached the end of the document. */
    parsed () {
      document.readyState = 'interactive'
      document.dispatchEvent(new Event('DOMContentLoaded'))
    },
    get api () {
      return context.ShapesToken
    }
  }
}
