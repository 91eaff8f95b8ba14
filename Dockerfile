# jiancha daemon image. Build: docker build -t jiancha .
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY monitor monitor
COPY rules rules
COPY exporters exporters
COPY grafana grafana
COPY examples examples
RUN pip install --no-cache-dir . && useradd --system --uid 10001 jiancha \
    && mkdir -p /var/lib/jiancha && chown jiancha /var/lib/jiancha
USER jiancha
ENV JIANCHA_LOG_FORMAT=json
EXPOSE 9708
ENTRYPOINT ["jiancha"]
CMD ["--help"]
