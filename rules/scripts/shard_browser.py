from shard.reporting.browser import build_browser
from shard.workflow import run

run(snakemake, build_browser)
