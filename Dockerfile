# One image for the API and the worker (compose picks the command).
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY tsconfig.json ./
COPY api ./api
COPY activities ./activities
COPY config ./config
COPY db ./db
COPY mdm ./mdm
COPY security ./security
COPY worker ./worker
COPY workflows ./workflows
USER node
EXPOSE 8080
CMD ["node", "--import", "tsx", "api/main.ts"]
