// Original file: proto/qstep/v1/info.proto


export interface ServerInfoRequest {
}

export interface ServerInfoRequest__Output {
}
