/*
 * Shapes Token Service: browser client.
 *
 * Exchanges the customer signature that the theme's Liquid renders for a
 * short-lived JWT, keeps the raw JWT in localStorage under
 * `shapes:omneo:shapestoken:<customer id>` and reuses it until it expires.
 * Dependency-free ES module; importing it never throws, in a browser or in Node.
 */

const KEY_PREFIX = 'shapes:omneo:shapestoken:'
const MODES = ['signed', 'timestamped', 'app-proxy']
const CUSTOMER_ID = /^[1-9][0-9]{0,19}$/
const DIGITS = /^[0-9]+$/
// How long a tab keeps the lock after storing a new token (see lockedRequest).
const HANDOFF_MS = 100

/** The storage key (and Web Locks name) of one customer's token. */
export function storageKey (customerId) {
  return KEY_PREFIX + String(customerId)
}

function defaultStorage () {
  // Reading `localStorage` itself throws where storage is blocked (sandboxed
  // iframes, some privacy settings): that is the "no storage" case.
  try {
    return typeof localStorage !== 'undefined' ? localStorage : undefined
  } catch (err) {
    return undefined
  }
}

function defaultFetch () {
  return typeof fetch === 'function' ? fetch.bind(globalThis) : undefined
}

function defaultLocks () {
  return typeof navigator !== 'undefined' && navigator && navigator.locks ? navigator.locks : undefined
}

function defaultSleep (ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function tokenError (message, status, code, cause) {
  const error = new Error(message, cause === undefined ? undefined : { cause })
  error.name = 'ShapesTokenError'
  error.status = status
  error.code = code
  return error
}

function decodeBase64Url (segment) {
  const base64 = segment.replace(/-/g, '+').replace(/_/g, '/')
  const binary = atob(base64 + '==='.slice((base64.length + 3) % 4))
  const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0))
  return new TextDecoder().decode(bytes)
}

/** `{exp, iat}` of a JWT, or null when the value is not a decodable JWT with a numeric `exp`. */
function readClaims (token) {
  if (typeof token !== 'string') return null
  const parts = token.split('.')
  if (parts.length !== 3 || !/^[A-Za-z0-9_-]+$/.test(parts[1])) return null
  try {
    const claims = JSON.parse(decodeBase64Url(parts[1]))
    if (!claims || !Number.isFinite(claims.exp)) return null
    return { exp: claims.exp, iat: Number.isFinite(claims.iat) ? claims.iat : undefined }
  } catch (err) {
    return null
  }
}

function retryAfterSeconds (header, nowMs) {
  if (header == null) return undefined
  const value = String(header).trim()
  if (DIGITS.test(value)) return Number(value)
  const date = Date.parse(value) // RFC 9110 §10.2.3: delay-seconds or an HTTP-date
  return Number.isNaN(date) ? undefined : Math.max(0, (date - nowMs) / 1000)
}

async function readErrorBody (response) {
  try {
    const body = JSON.parse(await response.text())
    return body && typeof body === 'object' ? body : {}
  } catch (err) {
    return {}
  }
}

function errorFromResponse (status, body) {
  const code = typeof body.error === 'string' ? body.error : `http_${status}`
  if (code === 'signature_expired') {
    return tokenError(
      `Shapes token request failed: HTTP ${status} signature_expired: the signature on this page ` +
        'has expired; reload the page to get a fresh signature.',
      status,
      code
    )
  }
  const description = typeof body.error_description === 'string' ? `: ${body.error_description}` : ''
  return tokenError(`Shapes token request failed: HTTP ${status} ${code}${description}`, status, code)
}

function withBearer (input, init, token) {
  const source = init && init.headers !== undefined
    ? init.headers
    : input && typeof input === 'object' && input.headers // a Request's own headers
  let headers
  if (typeof Headers === 'function') {
    headers = new Headers(source || undefined)
    headers.set('Authorization', `Bearer ${token}`)
  } else {
    headers = Object.assign({}, source, { Authorization: `Bearer ${token}` })
  }
  return Object.assign({}, init, { headers })
}

function positiveNumber (value, fallback, name) {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !(value >= 0)) throw new TypeError(`${name} must be a number >= 0`)
  return value
}

/**
 * A token client for one customer; returns a frozen `{getToken, authorizedFetch, clear}`.
 *
 * Options: endpoint, customerId, mode ('signed' | 'timestamped' | 'app-proxy'),
 * signature (signed, timestamped), ts (timestamped); storage (localStorage), fetch,
 * locks (navigator.locks; null for none), skewSeconds (60), maxRetries (3),
 * maxRetryWaitSeconds (10), now (ms, Date.now), sleep (ms => Promise).
 */
export function createTokenClient (options) {
  const {
    endpoint,
    customerId,
    signature,
    ts,
    mode = 'signed',
    storage = defaultStorage(),
    fetch: fetchImpl = defaultFetch(),
    locks = defaultLocks(),
    now = Date.now,
    sleep = defaultSleep
  } = options || {}
  const skewSeconds = positiveNumber(options && options.skewSeconds, 60, 'skewSeconds')
  const maxRetries = Math.floor(positiveNumber(options && options.maxRetries, 3, 'maxRetries'))
  const maxRetryWaitSeconds = positiveNumber(options && options.maxRetryWaitSeconds, 10, 'maxRetryWaitSeconds')

  if (!MODES.includes(mode)) throw new TypeError(`mode must be one of ${MODES.join(', ')}`)
  if (typeof endpoint !== 'string' || endpoint === '') throw new TypeError('endpoint must be a non-empty string')
  if (!CUSTOMER_ID.test(String(customerId))) throw new TypeError('customerId must be a Shopify customer ID (digits)')
  if (mode !== 'app-proxy' && (typeof signature !== 'string' || signature === '')) {
    throw new TypeError(`signature is required in ${mode} mode`)
  }
  if (mode === 'timestamped' && !DIGITS.test(String(ts))) throw new TypeError('ts must be digits in timestamped mode')
  if (typeof fetchImpl !== 'function') throw new TypeError('no fetch implementation available')

  const id = String(customerId)
  const key = storageKey(id)
  let memoryToken = null // used when storage is missing or throws
  let inflight = null

  function isFresh (token) {
    const claims = readClaims(token)
    if (!claims) return false
    // A token is "expired" skewSeconds before exp, but never more than half its
    // lifetime early, or a short-lived token (token_ttl = 60) would never be reused.
    const lifetime = claims.iat === undefined ? Infinity : claims.exp - claims.iat
    const skew = Math.min(skewSeconds, Math.max(0, lifetime / 2))
    return claims.exp - skew > now() / 1000
  }

  function readStored () {
    let stored = null
    try {
      stored = storage ? storage.getItem(key) : null
    } catch (err) {
      stored = null
    }
    if (stored !== null && stored !== undefined && !readClaims(stored)) {
      forget(stored) // not a JWT: ignore and drop it
      stored = null
    }
    if (isFresh(stored)) return stored
    return isFresh(memoryToken) ? memoryToken : null
  }

  function store (token) {
    memoryToken = token
    try {
      if (storage) storage.setItem(key, token)
    } catch (err) {
      // Private mode or quota: the memory copy keeps this tab working.
    }
  }

  /** Forget `token`, or whatever is stored when called without one. */
  function forget (token) {
    if (token === undefined || memoryToken === token) memoryToken = null
    try {
      if (storage && (token === undefined || storage.getItem(key) === token)) storage.removeItem(key)
    } catch (err) {
      // Storage unavailable: nothing persisted to remove.
    }
  }

  function tokenRequest () {
    if (mode === 'app-proxy') {
      // Same-origin Shopify App Proxy: Shopify adds the customer and its signature.
      return { method: 'GET', credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } }
    }
    const body = { id, signature }
    if (mode === 'timestamped') body.ts = String(ts)
    return {
      method: 'POST',
      credentials: 'omit',
      cache: 'no-store',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body)
    }
  }

  async function requestToken () {
    for (let attempt = 0; ; attempt++) {
      let response
      try {
        response = await fetchImpl(endpoint, tokenRequest())
      } catch (err) {
        throw tokenError(`Shapes token request failed: network error (${err && err.message})`, 0, 'network_error', err)
      }
      if (response.ok) {
        let body
        try {
          body = await response.json()
        } catch (err) {
          throw tokenError(`Shapes token request failed: HTTP ${response.status} with a body that is not JSON`,
            response.status, 'invalid_response', err)
        }
        const token = body && (body.access_token || body.token)
        if (!readClaims(token)) {
          throw tokenError(`Shapes token request failed: HTTP ${response.status} without a JWT access_token`,
            response.status, 'invalid_response')
        }
        store(token)
        return token
      }
      if ((response.status === 429 || response.status === 503) && attempt < maxRetries) {
        const asked = retryAfterSeconds(response.headers.get('Retry-After'), now())
        const wait = Math.min(asked === undefined ? 2 ** attempt : asked, maxRetryWaitSeconds)
        await sleep(wait * 1000)
        continue
      }
      throw errorFromResponse(response.status, await readErrorBody(response))
    }
  }

  /** Under the customer's lock: storage again (another tab may have just stored a token), else a request. */
  function lockedRequest () {
    if (!locks || typeof locks.request !== 'function') return readStored() || requestToken()
    return new Promise((resolve, reject) => {
      locks.request(key, async () => {
        const stored = readStored()
        if (stored) return resolve(stored)
        try {
          resolve(await requestToken())
        } catch (err) {
          return reject(err)
        }
        // A browser keeps a copy of localStorage per tab process and updates the others
        // asynchronously: hold the lock a moment so the next tab reads this token.
        await new Promise((done) => setTimeout(done, HANDOFF_MS))
      }).catch(reject)
    })
  }

  /** The customer's token: the stored one while fresh, else a new one (one request at a time). */
  function getToken () {
    const token = readStored()
    if (token) return Promise.resolve(token)
    if (!inflight) {
      const request = (async () => lockedRequest())()
      inflight = request.finally(() => {
        inflight = null
      })
    }
    return inflight
  }

  /** fetch() with `Authorization: Bearer <token>`; on a 401, refreshes the token once and retries once. */
  async function authorizedFetch (input, init) {
    const token = await getToken()
    const response = await fetchImpl(input, withBearer(input, init, token))
    if (response.status !== 401) return response
    forget(token) // only this token: a concurrent call may already have stored a newer one
    return fetchImpl(input, withBearer(input, init, await getToken()))
  }

  /** Removes this customer's stored token (and the memory copy). */
  function clear () {
    forget()
  }

  return Object.freeze({ getToken, authorizedFetch, clear })
}

/** Removes every `shapes:omneo:shapestoken:*` key (a guest page: logout leaves nothing). */
export function clearAllTokens (storage = defaultStorage()) {
  if (!storage) return 0
  const keys = []
  for (let i = 0; i < storage.length; i++) {
    const name = storage.key(i)
    if (typeof name === 'string' && name.startsWith(KEY_PREFIX)) keys.push(name)
  }
  keys.forEach((name) => storage.removeItem(name))
  return keys.length
}

function autoStart () {
  if (typeof window === 'undefined' || typeof document === 'undefined') return { client: null, ready: null }
  const element = typeof document.getElementById === 'function' && document.getElementById('shapes-token-config')
  if (!element) return { client: null, ready: Promise.resolve(null) }
  try {
    const config = JSON.parse(element.textContent)
    if (config.customerId === null || config.customerId === undefined) {
      clearAllTokens()
      return { client: null, ready: Promise.resolve(null) }
    }
    const client = createTokenClient({
      endpoint: config.endpoint,
      customerId: config.customerId,
      signature: config.signature,
      ts: config.ts,
      mode: config.mode || 'signed'
    })
    return { client, ready: client.getToken() }
  } catch (err) {
    return { client: null, ready: Promise.reject(err) }
  }
}

const started = autoStart()

/** The client started from the page's config tag, or null (guest, no config, or not in a browser). */
export const client = started.client

/** Resolves to the auto-started client's first token, or null for a guest or a page without config. */
export const ready = started.ready || Promise.resolve(null)

if (started.ready) {
  ready.catch((err) => {
    // The message carries the status and the server's error code, never a token or signature.
    console.error(`ShapesToken: ${err && err.message}`)
  })
  window.ShapesToken = Object.freeze({ createTokenClient, clearAllTokens, storageKey, client, ready })
  if (typeof CustomEvent === 'function' && typeof document.dispatchEvent === 'function') {
    document.dispatchEvent(new CustomEvent('shapes-token:ready', { detail: { client } }))
  }
}
