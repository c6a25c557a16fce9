# kubegate's container image: compiled JavaScript and production dependencies on a distroless Node.js
# runtime (no shell, no package manager), running as a numeric non-root user.
#
#   docker build -t kubegate:0.1.0 .
#   docker run --rm kubegate:0.1.0 --version
#
# Node.js 24 ("Krypton") is an LTS line with security support until April 2028 (Maintenance LTS since
# October 2026). Node.js 26 is the Active LTS line since October 2026: build with
# --build-arg NODE_MAJOR=26 once the test suite has run on 26 (CI runs it on 20). kubegate itself runs on
# Node.js 20 and later.
#
# test/image.test.ts assembles the runtime stage's files the way this file does (there is no container
# engine in CI): it must learn about any COPY added to the runtime stage.
ARG NODE_MAJOR=24

# Compile TypeScript to dist/ with the full (dev) dependency set.
FROM node:${NODE_MAJOR}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Production dependencies only, exactly as locked; no install scripts (none is needed).
FROM node:${NODE_MAJOR}-bookworm-slim AS deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# The runtime: node, kubegate's compiled code, its production dependencies and package.json (for the
# version). Pin the digest (FROM ...@sha256:...) in your own build for reproducibility.
FROM gcr.io/distroless/nodejs${NODE_MAJOR}-debian12:nonroot AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
# distroless "nonroot": numeric, so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/cli/main.js"]
CMD ["serve", "--config", "/etc/kubegate/config/config.yaml"]
