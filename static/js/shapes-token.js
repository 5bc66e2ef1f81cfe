/*
 * Shapes Token Service: browser client.
 *
 * Exchanges the customer signature that the theme's Liquid renders for a
 * short-lived JWT, keeps the raw JWT in localStorage under
 * `shapes:omneo:shapestoken:<customer id>` and reuses it until it expires; on a
 * guest page it can hold an anonymous token for the shop's public client instead.
 *
 * A classic script, dependency-free: load it with Shopify's `script_tag`, with
 * `<script src defer>` or as `type="module"`; it defines `window.ShapesToken`.
 * `shapes-token.mjs` imports this file and re-exports the same functions by name.
 * Evaluating it never throws, in a browser or in Node, and a second copy on the
 * same page (a theme asset and the service's URL, say) leaves the first in charge.
 */
;(function (root) {
  'use strict'

  const existing = root.ShapesToken
  if (existing && typeof existing.createTokenClient === 'function') return

  const KEY_PREFIX = 'shapes:omneo:shapestoken:'
  const ANONYMOUS_KEY = KEY_PREFIX + 'anonymous'
  const CONFIG_ID = 'shapes-token-config'
  const MODES = ['signed', 'timestamped', 'app-proxy', 'implicit']
  const CUSTOMER_ID = /^[1-9][0-9]{0,19}$/
  const CLIENT_ID = /^[A-Za-z0-9._-]{3,64}$/
  const DIGITS = /^[0-9]+$/
  // How long a tab keeps the lock after storing a new token (see lockedRequest).
  const HANDOFF_MS = 100
  // The longest lifetime the service gives any token (a client's token_ttl is at most
  // a day). A token claiming more, or an `exp` further ahead than that plus a day of
  // clock difference, did not come from the service: it is never used or stored.
  const MAX_LIFETIME_SECONDS = 86400
  const MAX_CLOCK_SKEW_SECONDS = 86400
  // Background refresh after a failure that may pass (network, 429, 5xx).
  const REFRESH_RETRY_MS = 60000
  const MAX_TIMER_MS = 2147483647

  /** The storage key (and Web Locks name) of one customer's token. */
  function storageKey (customerId) {
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
    return typeof fetch === 'function' ? fetch.bind(root) : undefined
  }

  function defaultLocks () {
    return typeof navigator !== 'undefined' && navigator && navigator.locks ? navigator.locks : undefined
  }

  function defaultSleep (ms) {
    return new Promise((resolve) => setTimeout(resolve, ms))
  }

  function pageLocation () {
    return root.location && typeof root.location.href === 'string' ? root.location : undefined
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

  /**
   * `{sub, exp, iat}` of a JWT, or null unless it is a decodable JWT with a string
   * `sub`, integer `iat` and `exp`, and a lifetime the service could have given it.
   */
  function readClaims (token) {
    if (typeof token !== 'string') return null
    const parts = token.split('.')
    if (parts.length !== 3 || !/^[A-Za-z0-9_-]+$/.test(parts[1])) return null
    let claims
    try {
      claims = JSON.parse(decodeBase64Url(parts[1]))
    } catch (err) {
      return null
    }
    if (!claims || typeof claims.sub !== 'string') return null
    if (!Number.isSafeInteger(claims.exp) || !Number.isSafeInteger(claims.iat)) return null
    const lifetime = claims.exp - claims.iat
    if (lifetime <= 0 || lifetime > MAX_LIFETIME_SECONDS) return null
    return { sub: claims.sub, exp: claims.exp, iat: claims.iat }
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

  /**
   * A request that got no response at all. The browser hides why (a CORS refusal and
   * an unreachable host look the same to a page), so the message lists the usual causes.
   */
  function networkError (endpoint, causes, cause) {
    return tokenError(
      `Shapes token request to ${endpoint} got no response (${cause && cause.message}). ` +
        `Likely causes: ${causes}. The service logs the error and the Origin of every request it refuses.`,
      0,
      'network_error',
      cause
    )
  }

  /** The usual reasons a token request gets no response, for `whose` config table. */
  function likelyCauses (mode, whose) {
    if (mode === 'app-proxy') {
      return "the shop's App Proxy does not forward this path to the service; or the service is down"
    }
    const location = pageLocation()
    const origin = location ? ` (${location.origin})` : ''
    return `this page's origin${origin} is missing from allowed_origins of ${whose} in the service's ` +
      'config; the endpoint is wrong; or the service is down'
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

  function parseUrl (url, base) {
    try {
      const parsed = new URL(url, base)
      return /^https?:$/.test(parsed.protocol) ? parsed : null
    } catch (err) {
      return null
    }
  }

  function originOf (url, base) {
    const parsed = parseUrl(url, base)
    return parsed ? parsed.origin : null
  }

  /**
   * The origins whose 401 means "this token is stale": by default the endpoint's own
   * (the service's API, such as /v1/me), when the endpoint is an absolute URL.
   */
  function apiOriginList (value, endpoint) {
    if (value === undefined || value === null) {
      const own = originOf(endpoint)
      return own ? [own] : []
    }
    if (!Array.isArray(value)) throw new TypeError('apiOrigins must be a list of origins')
    return value.map((item) => String(item).trim()).filter(Boolean).map((item) => {
      const parsed = parseUrl(item)
      if (!parsed || parsed.pathname !== '/' || parsed.search || parsed.hash || parsed.username) {
        throw new TypeError(`apiOrigins: ${JSON.stringify(item)} is not an origin like https://api.example.com`)
      }
      return parsed.origin
    })
  }

  /** The URL of a fetch() input (a string, a URL or a Request). */
  function inputUrl (input) {
    if (typeof input === 'string') return input
    if (input && typeof input === 'object') return typeof input.url === 'string' ? input.url : String(input)
    return String(input)
  }

  /**
   * A token client; returns a frozen `{customerId, getToken, authorizedFetch, clear}`.
   *
   * Options: endpoint; mode ('signed' | 'timestamped' | 'app-proxy' | 'implicit');
   * customerId, signature (signed, timestamped), ts (timestamped); clientId (implicit:
   * an anonymous token of a public client); apiOrigins (where a 401 re-mints; default:
   * the endpoint's origin); onChange({customerId, expiresAt}); keepFresh (false);
   * storage (localStorage), fetch, locks (navigator.locks; null for none), skewSeconds
   * (60), maxRetries (3), maxRetryWaitSeconds (10), now (ms, Date.now), sleep (ms => Promise).
   */
  function createTokenClient (options) {
    const {
      endpoint,
      customerId,
      clientId,
      signature,
      ts,
      mode = 'signed',
      onChange,
      keepFresh = false,
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
    const anonymous = mode === 'implicit'
    if (anonymous) {
      if (typeof clientId !== 'string' || !CLIENT_ID.test(clientId)) throw new TypeError('clientId must be a client_id ([A-Za-z0-9._-]{3,64}) in implicit mode')
    } else if (!CUSTOMER_ID.test(String(customerId))) {
      throw new TypeError('customerId must be a Shopify customer ID (digits)')
    }
    if ((mode === 'signed' || mode === 'timestamped') && (typeof signature !== 'string' || signature === '')) {
      throw new TypeError(`signature is required in ${mode} mode`)
    }
    if (mode === 'timestamped' && !DIGITS.test(String(ts))) throw new TypeError('ts must be digits in timestamped mode')
    if (typeof fetchImpl !== 'function') throw new TypeError('no fetch implementation available')
    if (onChange !== undefined && typeof onChange !== 'function') throw new TypeError('onChange must be a function')
    const apiOrigins = apiOriginList(options && options.apiOrigins, endpoint)

    // Whose token this is: the `sub` it must carry, and where it is kept.
    const subject = anonymous ? String(clientId) : String(customerId)
    const key = anonymous ? ANONYMOUS_KEY : storageKey(subject)
    const causes = likelyCauses(mode, anonymous ? `[clients."${subject}"]` : shopOf(endpoint))
    let memoryToken = null // used when storage is missing or throws
    let inflight = null
    let refusal = null // a 4xx answer: the same request would get it again
    let refreshTimer = null

    /** The token's claims if it is one this client may use: this subject's, plausible. */
    function usable (token) {
      const claims = readClaims(token)
      if (!claims || claims.sub !== subject) return null
      if (claims.exp > now() / 1000 + MAX_LIFETIME_SECONDS + MAX_CLOCK_SKEW_SECONDS) return null
      return claims
    }

    /** When a token stops counting as fresh (ms): `skewSeconds` before exp, at most half its life early. */
    function staleAt (claims) {
      const skew = Math.min(skewSeconds, (claims.exp - claims.iat) / 2)
      return (claims.exp - skew) * 1000
    }

    function isFresh (token) {
      const claims = usable(token)
      return claims !== null && staleAt(claims) > now()
    }

    function readStorage () {
      try {
        return storage ? storage.getItem(key) : null
      } catch (err) {
        return null
      }
    }

    function readStored () {
      const stored = readStorage()
      if (stored !== null && stored !== undefined && !usable(stored)) {
        forget(stored) // not a JWT, another subject's, or an absurd exp: drop it
      } else if (isFresh(stored)) {
        return stored
      }
      return isFresh(memoryToken) ? memoryToken : null
    }

    /** This client's token as it stands (fresh or not), or null. */
    function current () {
      const stored = readStorage()
      if (usable(stored)) return stored
      return usable(memoryToken) ? memoryToken : null
    }

    // What onChange was last told.
    let announced = current()

    function announce (token) {
      if (token === announced) return
      announced = token
      schedule(token)
      if (onChange) {
        const claims = token === null ? null : readClaims(token)
        onChange({ customerId: anonymous ? null : subject, expiresAt: claims ? claims.exp : null })
      }
    }

    function store (token) {
      // The memory copy only stands in for storage that fails: once stored, storage is
      // the truth, so a token another tab removed (a logout there) is not served again.
      memoryToken = null
      try {
        if (storage) storage.setItem(key, token)
        else memoryToken = token
      } catch (err) {
        memoryToken = token // private mode or quota: this tab keeps working
      }
      announce(token)
    }

    /** Forget `token`, or whatever is stored when called without one. */
    function forget (token) {
      if (token === undefined || memoryToken === token) memoryToken = null
      try {
        if (storage && (token === undefined || storage.getItem(key) === token)) storage.removeItem(key)
      } catch (err) {
        // Storage unavailable: nothing persisted to remove.
      }
      announce(current()) // a concurrent call may already have stored a newer token
    }

    function tokenRequest () {
      if (mode === 'app-proxy') {
        // Same-origin Shopify App Proxy: Shopify adds the customer and its signature.
        return { method: 'GET', credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } }
      }
      let body
      let type = 'application/json'
      if (anonymous) {
        // A form body needs no CORS preflight; a public client identifies itself by
        // client_id alone (RFC 6749 §3.2.1).
        body = new URLSearchParams({ grant_type: 'implicit', client_id: subject }).toString()
        type = 'application/x-www-form-urlencoded'
      } else {
        const fields = { id: subject, signature }
        if (mode === 'timestamped') fields.ts = String(ts)
        body = JSON.stringify(fields)
      }
      return { method: 'POST', credentials: 'omit', cache: 'no-store', headers: { 'Content-Type': type }, body }
    }

    async function tokenFrom (response) {
      let body
      try {
        body = await response.json()
      } catch (err) {
        throw tokenError(`Shapes token request failed: HTTP ${response.status} with a body that is not JSON`,
          response.status, 'invalid_response', err)
      }
      const token = body && (body.access_token || body.token)
      const claims = readClaims(token)
      if (!claims) {
        throw tokenError(`Shapes token request failed: HTTP ${response.status} without a JWT access_token ` +
          'whose lifetime the service could have given', response.status, 'invalid_response')
      }
      if (claims.sub !== subject) {
        throw tokenError(`Shapes token request failed: the token is not for ${anonymous ? 'client' : 'customer'} ` +
          `${subject}; nothing was stored`, response.status, 'invalid_response')
      }
      if (!usable(token)) {
        throw tokenError('Shapes token request failed: the token expires implausibly far from this ' +
          "device's clock; check the date and time of this device", response.status, 'invalid_response')
      }
      return token
    }

    async function requestToken () {
      for (let attempt = 0; ; attempt++) {
        let response
        try {
          response = await fetchImpl(endpoint, tokenRequest())
        } catch (err) {
          throw networkError(endpoint, causes, err)
        }
        if (response.ok) {
          const token = await tokenFrom(response)
          store(token)
          return token
        }
        if ((response.status === 429 || response.status === 503) && attempt < maxRetries) {
          const asked = retryAfterSeconds(response.headers.get('Retry-After'), now())
          const wait = Math.min(asked === undefined ? 2 ** attempt : asked, maxRetryWaitSeconds)
          await sleep(wait * 1000)
          continue
        }
        const error = errorFromResponse(response.status, await readErrorBody(response))
        // The proof on this page never changes, so a refusal is final for it (a reload
        // renders a new one); asking again would only spend the per-IP budget.
        if (response.status >= 400 && response.status < 500 && response.status !== 429) refusal = error
        throw error
      }
    }

    /** Under the subject's lock: storage again (another tab may have just stored a token), else a request. */
    function lockedRequest () {
      if (!locks || typeof locks.request !== 'function') return readStored() || requestToken()
      return new Promise((resolve, reject) => {
        locks.request(key, async () => {
          const stored = readStored()
          if (stored) {
            announce(stored)
            return resolve(stored)
          }
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

    /** The token: the stored one while fresh, else a new one (one request at a time). */
    function getToken () {
      const token = readStored()
      if (token) {
        announce(token)
        return Promise.resolve(token)
      }
      if (refusal) return Promise.reject(refusal)
      if (!inflight) {
        const request = (async () => lockedRequest())()
        inflight = request.finally(() => {
          inflight = null
        })
      }
      return inflight
    }

    /**
     * fetch() with `Authorization: Bearer <token>`. On a 401 from one of `apiOrigins`,
     * drops the token, gets a new one and retries once; a 401 from elsewhere is returned
     * as it is, so a third party's refusal never spends the customer's mint budget.
     */
    async function authorizedFetch (input, init) {
      const token = await getToken()
      const response = await fetchImpl(input, withBearer(input, init, token))
      if (response.status !== 401) return response
      const location = pageLocation()
      if (!apiOrigins.includes(originOf(inputUrl(input), location && location.href))) return response
      forget(token) // only this token: a concurrent call may already have stored a newer one
      return fetchImpl(input, withBearer(input, init, await getToken()))
    }

    /** Removes this client's stored token (and the memory copy). */
    function clear () {
      forget()
    }

    // keepFresh: fetch the next token when this one turns stale, while the page is
    // visible, so whoever follows onChange always holds a valid token.
    function schedule (token) {
      if (!keepFresh) return
      clearTimeout(refreshTimer)
      refreshTimer = null
      const claims = token === null ? null : usable(token)
      if (claims) later(refresh, Math.max(1000, staleAt(claims) - now()))
    }

    function later (callback, ms) {
      refreshTimer = setTimeout(callback, Math.min(ms, MAX_TIMER_MS))
      // Node (tests, server-side rendering) must be able to exit with a refresh pending.
      if (refreshTimer && typeof refreshTimer.unref === 'function') refreshTimer.unref()
    }

    function refresh () {
      refreshTimer = null
      if (typeof document !== 'undefined' && document.visibilityState === 'hidden') {
        document.addEventListener('visibilitychange', refresh, { once: true })
        return
      }
      getToken().then(schedule, (err) => {
        report(err)
        const transient = err.status === 0 || err.status === 429 || err.status >= 500
        if (transient) later(refresh, REFRESH_RETRY_MS)
      })
    }

    if (keepFresh || onChange) {
      // Another tab stored, replaced or removed this token (a login, a logout).
      if (typeof root.addEventListener === 'function') {
        root.addEventListener('storage', (event) => {
          if (event.key !== key && event.key !== null) return
          announce(usable(event.newValue) ? event.newValue : null)
        })
      }
      schedule(announced)
    }

    // customerId tells a customer's client from a guest's anonymous one (null).
    return Object.freeze({ customerId: anonymous ? null : subject, getToken, authorizedFetch, clear })
  }

  /** `[shops."acme.myshopify.com"]`, read from a customer-token endpoint, for messages. */
  function shopOf (endpoint) {
    const match = /\/v1\/shops\/([^/?#]+)\/customer-token/.exec(String(endpoint))
    return match ? `[shops."${match[1]}"]` : 'the shop'
  }

  function removeKeys (storage, keep) {
    if (!storage) return 0
    const keys = []
    for (let i = 0; i < storage.length; i++) {
      const name = storage.key(i)
      if (typeof name === 'string' && name.startsWith(KEY_PREFIX) && !keep(name)) keys.push(name)
    }
    keys.forEach((name) => storage.removeItem(name))
    return keys.length
  }

  /** Removes every `shapes:omneo:shapestoken:*` key (a guest page without a guest client); returns how many. */
  function clearAllTokens (storage = defaultStorage()) {
    return removeKeys(storage, () => false)
  }

  /** Removes every customer's token and keeps the anonymous one (a guest page with a guest client). */
  function clearCustomerTokens (storage = defaultStorage()) {
    return removeKeys(storage, (name) => name === ANONYMOUS_KEY)
  }

  /** Removes every customer's token but `customerId`'s; the anonymous one stays (a customer's page). */
  function clearOtherCustomers (customerId, storage = defaultStorage()) {
    const own = storageKey(customerId)
    return removeKeys(storage, (name) => name === own || name === ANONYMOUS_KEY)
  }

  function report (err) {
    // The message carries the status and the server's error code, never a token or signature.
    if (typeof console !== 'undefined') console.error(`ShapesToken: ${err && err.message}`)
  }

  // -- the page's client, started from the snippet's config tag -------------------------

  function configError (message) {
    // No "ShapesToken: " here: report() adds it, and the error's name says whose it is.
    return tokenError(message, 0, 'invalid_config')
  }

  /** The config tag's JSON, or null without one. Refuses a second tag: which would be the real one? */
  function readPageConfig () {
    const found = typeof document.querySelectorAll === 'function'
      ? Array.from(document.querySelectorAll(`[id="${CONFIG_ID}"]`))
      : []
    if (found.length === 0) return null
    if (found.length > 1) {
      throw configError(`this page has ${found.length} #${CONFIG_ID} elements; render the shapes-token ` +
        'snippet once per page (a second config could make the page act for another customer)')
    }
    const element = found[0]
    if (String(element.tagName).toUpperCase() !== 'SCRIPT' || element.type !== 'application/json') {
      throw configError(`#${CONFIG_ID} must be the snippet's <script type="application/json"> tag`)
    }
    try {
      const config = JSON.parse(element.textContent)
      if (config && typeof config === 'object') return config
    } catch (err) {
      // reported below
    }
    throw configError(`#${CONFIG_ID} does not hold a JSON object`)
  }

  function dispatchChange (detail) {
    if (typeof root.dispatchEvent === 'function' && typeof CustomEvent === 'function') {
      root.dispatchEvent(new CustomEvent('shapes-token:change', { detail }))
    }
  }

  /** The page's client from its config: a customer's, a guest's anonymous one, or null. */
  function startPage () {
    const config = readPageConfig()
    if (config === null) return null
    const common = { apiOrigins: config.apiOrigins || undefined, onChange: dispatchChange, keepFresh: true }
    if (config.customerId === null || config.customerId === undefined) {
      if (!config.guestClientId) {
        clearAllTokens() // a guest: logout leaves nothing
        return null
      }
      clearCustomerTokens() // a guest keeps (or fetches) only the anonymous token
      if (!config.guestEndpoint) {
        throw configError('guest_client needs guest_endpoint when the endpoint is not an absolute URL')
      }
      return createTokenClient({ ...common, mode: 'implicit', endpoint: config.guestEndpoint, clientId: config.guestClientId })
    }
    // A shared computer must not keep the previous customer's token readable.
    clearOtherCustomers(config.customerId)
    const mode = config.mode || 'signed'
    if (mode !== 'app-proxy' && !config.signature) {
      throw configError('the page has no signature: set the shop metafield omneo.id_secret ' +
        '(the snippet reads it with .value)')
    }
    return createTokenClient({
      ...common,
      mode,
      endpoint: config.endpoint,
      customerId: config.customerId,
      signature: config.signature,
      ts: config.ts
    })
  }

  // The snippet's inline placeholder made `ready` before this file loaded; keep that
  // promise, so code that already holds it is answered. Without the snippet, make one.
  let settle
  let ready
  if (existing && existing.ready && typeof existing.settle === 'function') {
    ready = existing.ready
    settle = existing.settle
  } else {
    ready = new Promise((resolve, reject) => {
      settle = (error, client) => (error ? reject(error) : resolve(client))
    })
  }

  root.ShapesToken = Object.freeze({
    createTokenClient,
    clearAllTokens,
    clearCustomerTokens,
    storageKey,
    ANONYMOUS_KEY,
    ready
  })

  function start () {
    let client
    try {
      client = startPage()
    } catch (err) {
      report(err)
      ready.catch(() => {}) // reported once, here: not an unhandled rejection as well
      settle(err)
      return
    }
    if (client) client.getToken().catch(report) // the first token, fetched at once
    settle(null, client)
  }

  if (typeof document === 'undefined' || !document) {
    settle(null, null) // not a page (Node): no page client
  } else if (document.readyState === 'loading') {
    // Loaded in <head> (script_tag) or before the snippet: read the config once the
    // document is parsed, so every #shapes-token-config is seen, wherever it is.
    document.addEventListener('DOMContentLoaded', start, { once: true })
  } else {
    start()
  }
})(typeof globalThis !== 'undefined' ? globalThis : this)
