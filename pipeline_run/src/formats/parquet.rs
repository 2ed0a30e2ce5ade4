//! `parquet`: the shard's metadata table is the dataset, each image in
//! its row's binary `jpg` column, so one file per shard holds everything
//! (what pyarrow, pandas or Spark read without a tar reader).

use super::ShardFormat;

pub(crate) struct Parquet;

impl ShardFormat for Parquet {
    fn name(&self) -> &'static str {
        "parquet"
    }

    fn images_column(&self) -> bool {
        true
    }
}
