"""OKX account REST: balance, positions, leverage, account config, and the currency list
(`/api/v5/account/*`, `/api/v5/asset/currencies`). One account mode: spot and futures, net positions,
cross margin."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ...engine import EngineError
from ...engine import errors as engine_errors
from .context import OkxContext
from .endpoint import Call, Route, install_routes
from .errors import OkxError, bad
from .views import account_json, open_positions

_LEVER = re.compile(r"^[0-9]{1,4}$")


class AccountRest:
    def __init__(self, ctx: OkxContext) -> None:
        self.ctx = ctx

    def install(self, app: web.Application) -> None:
        install_routes(app, self.ctx, [
            Route("GET", "/api/v5/account/balance", self.balance, 10, private=True),
            Route("GET", "/api/v5/account/positions", self.positions, 10, private=True),
            Route("POST", "/api/v5/account/set-leverage", self.set_leverage, 20, private=True),
            Route("GET", "/api/v5/account/config", self.config, 5, private=True),
            Route("GET", "/api/v5/asset/currencies", self.currencies, 12, private=True),
        ])

    async def balance(self, call: Call) -> list[Any]:
        raw = call.params.text("ccy")
        ccys = [c for c in raw.split(",") if c] if raw is not None else None
        return [account_json(self.ctx, call.account.account_id, ccys)]

    async def positions(self, call: Call) -> list[Any]:
        params = call.params
        inst_type = params.choice("instType", ("MARGIN", "SWAP", "FUTURES", "OPTION"))
        inst_id = params.text("instId")
        insts = list(self.ctx.instruments.values()) if inst_id is None else [
            self.ctx.instrument(i) for i in inst_id.split(",")]
        insts = [i for i in insts if inst_type is None or i.inst_type == inst_type]
        return open_positions(self.ctx, call.account.account_id, insts)

    async def set_leverage(self, call: Call) -> list[Any]:
        """Whole-number leverage only (OKX also takes decimals such as "2.5": ours)."""
        params = call.params
        inst = self.ctx.instrument(params.required("instId"))
        mode = params.choice("mgnMode", ("cross", "isolated"), required=True)
        lever = params.required("lever")
        if not inst.is_swap:
            raise bad("instId")
        if not _LEVER.match(lever) or int(lever) < 1:
            raise bad("lever")
        pos_side = params.choice("posSide", ("net", "long", "short")) or ""
        try:
            self.ctx.engine.set_leverage(call.account.account_id, inst.symbol, int(lever))
        except engine_errors.InvalidLeverage:
            raise OkxError("59102", "Leverage exceeds the maximum leverage. Please adjust the leverage.",
                           status=200) from None
        except EngineError:
            raise OkxError("59103", "Leverage is too low and no sufficient margin in your account. Please adjust "
                                    "the leverage.", status=200) from None
        return [{"lever": lever, "mgnMode": mode, "instId": inst.inst_id, "posSide": pos_side}]

    async def config(self, call: Call) -> list[Any]:
        uid = str(call.account.account_id)
        return [{
            "uid": uid, "mainUid": uid, "acctLv": "2", "acctStpMode": "cancel_maker", "posMode": "net_mode",
            "autoLoan": False, "greeksType": "PA", "level": "Lv1", "levelTmp": "", "ctIsoMode": "automatic",
            "mgnIsoMode": "automatic", "roleType": "0", "traderInsts": [], "spotRoleType": "0",
            "spotTraderInsts": [], "opAuth": "0", "kycLv": "1", "label": "", "ip": "", "perm": "read_only,trade",
            "liquidationGear": "-1", "enableSpotBorrow": False, "spotBorrowAutoRepay": False, "type": "0",
        }]

    async def currencies(self, call: Call) -> list[Any]:
        """Every asset of the engine's markets, one chain each, deposits and withdrawals off (no wallets here)."""
        raw = call.params.text("ccy")
        wanted = set(raw.split(",")) if raw is not None else None
        return [{"ccy": ccy, "name": ccy, "chain": f"{ccy}-{ccy}", "canDep": False, "canWd": False,
                 "canInternal": False, "minDep": "0", "minWd": "0", "maxWd": "0", "wdTickSz": "8",
                 "wdQuota": "0", "usedWdQuota": "0", "fee": "0", "minFee": "0", "maxFee": "0", "mainNet": True,
                 "needTag": False, "logoLink": "", "depQuotaFixed": "", "usedDepQuotaFixed": ""}
                for ccy in self.ctx.engine.assets() if wanted is None or ccy in wanted]
