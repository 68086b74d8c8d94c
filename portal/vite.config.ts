/// <reference types="vitest/config" />
import { cpSync, mkdirSync } from 'node:fs'
import { fileURLToPath, URL } from 'node:url'
import vue from '@vitejs/plugin-vue'
import { defineConfig, type Plugin } from 'vite'

// The gateway's API docs pages (/docs: Swagger UI, /asyncapi: the AsyncAPI document) load their scripts and styles
// from the gateway itself, never from a public CDN: the pinned npm packages are copied into dist/docs-assets with the
// pages' own start-up scripts (docs-assets/*.js; the gateway's Content-Security-Policy allows no inline script).
function docsAssets(): Plugin {
  const from = (path: string) => fileURLToPath(new URL(path, import.meta.url))
  const files: [string, string][] = [
    ['node_modules/swagger-ui-dist/swagger-ui-bundle.js', 'swagger-ui/swagger-ui-bundle.js'],
    ['node_modules/swagger-ui-dist/swagger-ui.css', 'swagger-ui/swagger-ui.css'],
    ['node_modules/swagger-ui-dist/favicon-32x32.png', 'swagger-ui/favicon-32x32.png'],
    ['node_modules/swagger-ui-dist/LICENSE', 'swagger-ui/LICENSE'],
    ['node_modules/@asyncapi/react-component/browser/standalone/index.js', 'asyncapi/index.js'],
    ['node_modules/@asyncapi/react-component/styles/default.min.css', 'asyncapi/default.min.css'],
    ['node_modules/@asyncapi/react-component/LICENSE', 'asyncapi/LICENSE'],
    ['docs-assets/swagger-init.js', 'swagger-init.js'],
    ['docs-assets/asyncapi-init.js', 'asyncapi-init.js'],
  ]
  return {
    name: 'docs-assets',
    apply: 'build',
    closeBundle() {
      for (const [source, target] of files) {
        const to = from(`dist/docs-assets/${target}`)
        mkdirSync(fileURLToPath(new URL('.', `file://${to}`)), { recursive: true })
        cpSync(from(source), to)
      }
    },
  }
}

// The gateway serves portal/dist and the API under /api on the same origin, so the browser never needs CORS.
// In development the Vite server proxies /api to a gateway on port 8080 (GATEWAY_URL overrides it).
export default defineConfig({
  plugins: [vue(), docsAssets()],
  resolve: {
    alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      output: {
        manualChunks: {
          naive: ['naive-ui'],
          vue: ['vue', 'vue-router', 'vue-i18n'],
        },
      },
    },
  },
  server: {
    port: 5173,
    proxy: {
      '/api': { target: process.env.GATEWAY_URL ?? 'http://127.0.0.1:8080', changeOrigin: true },
    },
  },
  test: {
    environment: 'node',
    include: ['tests/**/*.spec.ts'],
  },
})
