/*
 * Shapes Token Service: the browser client as an ES module.
 *
 * The code is shapes-token.js, next to this file: imported for its side effect, it
 * defines window.ShapesToken once per page (a copy already loaded by a classic
 * <script> stays in charge), and this module re-exports that object's members by name.
 *
 *   import { ready, createTokenClient } from 'https://tokens.example.com/static/js/shapes-token.mjs'
 */
import './shapes-token.js'

const api = globalThis.ShapesToken

export const {
  ANONYMOUS_KEY,
  clearAllTokens,
  clearCustomerTokens,
  createTokenClient,
  ready,
  storageKey
} = api

export default api
