"""Operations support: health checks (`torchtrader doctor`)."""
