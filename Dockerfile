# flow2api with the Flow provider plugins (VideoFX, flowweb and flowkit, what they share) and the storyboard workflow.
# Data (SQLite, media, secrets key) lives in /app/data.
FROM python:3.11-slim
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir . ./plugins/flowkit ./plugins/videofx ./plugins/flowweb ./plugins/storyboard
ENV FLOW2API_DATA_DIR=/app/data
VOLUME ["/app/data"]
EXPOSE 8000
CMD ["flow2api", "serve", "--host", "0.0.0.0", "--port", "8000"]
