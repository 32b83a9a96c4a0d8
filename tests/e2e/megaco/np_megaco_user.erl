%% SPDX-License-Identifier: GPL-2.0-only
%% The megaco_user callbacks of the test MG and MGC: a transaction request
%% goes to the handler fun the user was started with (its user_args), whose
%% action replies (or error descriptor) are the answer; the rest is logged
%% or accepted as the stack suggests.
-module(np_megaco_user).

-behaviour(megaco_user).

-include_lib("megaco/include/megaco.hrl").
-include_lib("megaco/include/megaco_message_v1.hrl").

-export([handle_connect/3, handle_disconnect/4, handle_syntax_error/4,
         handle_message_error/4, handle_trans_request/4,
         handle_trans_long_request/4, handle_trans_reply/5,
         handle_trans_ack/5, handle_unexpected_trans/4,
         handle_trans_request_abort/5]).

handle_trans_request(CH, _V, ARs, Handler) ->
    {discard_ack, Handler(CH, ARs)}.

handle_connect(_CH, _V, _H) -> ok.
handle_disconnect(CH, _V, R, _H) -> megaco:cancel(CH, R), ok.
handle_syntax_error(_RH, _V, ED, _H) ->
    np_megaco_lib:log("megaco", "syntax error ~p", [ED]),
    reply.
handle_message_error(_CH, _V, ED, _H) ->
    np_megaco_lib:log("megaco", "message error ~p", [ED]),
    no_reply.
handle_trans_long_request(_CH, _V, _D, _H) -> ignore.
handle_trans_reply(_CH, _V, _R, _D, _H) -> ok.
handle_trans_ack(_CH, _V, _S, _D, _H) -> ok.
handle_unexpected_trans(_CH, _V, T, _H) ->
    np_megaco_lib:log("megaco", "unexpected transaction ~p", [T]),
    ok.
handle_trans_request_abort(_CH, _V, _T, _P, _H) -> ok.
