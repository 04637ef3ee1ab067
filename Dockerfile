# flow2api with the Flow provider plugins (VideoFX, flowweb and flowkit, what they share) and the storyboard workflow.
# Data (SQLite, media, secrets key) lives in /app/data.
FROM python:3.11-slim
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir ".[s3]" ./plugins/flowkit ./plugins/videofx ./plugins/flowweb ./plugins/storyboard
ENV FLOW2API_DATA_DIR=/app/data
VOLUME ["/app/data"]
EXPOSE 8000
# 0.0.0.0 is needed inside a container; it is safe because no well-known key is accepted there: the client key is
# generated into /app/data/api_key on first start (see `docker logs`) and 'han1234' is refused on this bind.
CMD ["flow2api", "serve", "--host", "0.0.0.0", "--port", "8000"]
