# syntax=docker/dockerfile:1
# One image for the gateway, the agent worker, the development IdP and the example agent
# runtime (the command differs): Node 24 runs the
# TypeScript sources directly. Multi-stage: dependencies are installed in a builder stage; the
# runtime stage has no npm cache, runs as a non-root user, and expects a read-only root.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY common ./common
COPY gateway/src ./gateway/src
COPY idp/src ./idp/src
COPY agent/src ./agent/src
COPY agent/fixtures ./agent/fixtures
COPY examples/change-review/src ./examples/change-review/src
COPY rego/zyx/config ./rego/zyx/config
USER node
# The command (gateway or worker) and its healthcheck are set per service in docker-compose.yml.
CMD ["node", "gateway/src/main.ts"]
