# sentinel: the bot image. Build: docker build -t sentinel .
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY commands ./commands
COPY bench ./bench
COPY config ./config
COPY deploy/statemachines ./deploy/statemachines
COPY deploy/ssm ./deploy/ssm
RUN npm ci --ignore-scripts && npm run build

FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY config ./config
COPY deploy/statemachines ./deploy/statemachines
COPY deploy/ssm ./deploy/ssm
USER node
ENTRYPOINT ["node", "bin/sentinel"]
CMD ["start"]
